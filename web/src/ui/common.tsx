import { Alert, Badge, Center, Group, Loader, ScrollArea, Table, Text, Title } from '@mantine/core';
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { STATUS_COLORS, STATUS_LABELS } from './format';

/** Load data with a function; reload when a dependency changes or when `reload()` is called. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setLoading(true);
    fn()
      .then((d) => {
        if (mine === seq.current) {
          setData(d);
          setError(null);
        }
      })
      .catch((e: unknown) => {
        if (mine === seq.current) setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        if (mine === seq.current) setLoading(false);
      });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(run, [run]);
  return { data, error, loading, reload: run, setData };
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={STATUS_COLORS[status] ?? 'gray'} data-status={status}>
      {STATUS_LABELS[status] ?? status}
    </Badge>
  );
}

export interface Column<T> {
  key: string;
  label: string;
  render?: (row: T) => ReactNode;
  align?: 'left' | 'right';
}

export function DataTable<T>({
  rows,
  columns,
  rowKey,
  caption,
  empty = 'Nothing here yet',
  rowProps,
}: {
  rows: T[] | undefined;
  columns: Column<T>[];
  rowKey: (row: T) => string;
  caption: string;
  empty?: string;
  rowProps?: (row: T) => Record<string, unknown>;
}) {
  return (
    <ScrollArea type="auto" viewportProps={{ tabIndex: 0, role: 'region', 'aria-label': caption } as Record<string, unknown>}>
      <Table striped highlightOnHover withTableBorder aria-label={caption} verticalSpacing="xs">
        <Table.Thead>
          <Table.Tr>
            {columns.map((c) => (
              <Table.Th key={c.key} style={{ textAlign: c.align ?? 'left', whiteSpace: 'nowrap' }}>
                {c.label}
              </Table.Th>
            ))}
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(rows ?? []).map((r) => (
            <Table.Tr key={rowKey(r)} {...(rowProps ? rowProps(r) : {})}>
              {columns.map((c) => (
                <Table.Td key={c.key} style={{ textAlign: c.align ?? 'left' }}>
                  {c.render ? c.render(r) : String((r as Record<string, unknown>)[c.key] ?? '—')}
                </Table.Td>
              ))}
            </Table.Tr>
          ))}
          {rows && rows.length === 0 && (
            <Table.Tr>
              <Table.Td colSpan={columns.length}>
                <Text c="dark.4" ta="center">
                  {empty}
                </Text>
              </Table.Td>
            </Table.Tr>
          )}
        </Table.Tbody>
      </Table>
    </ScrollArea>
  );
}

export function Loading({ loading, error }: { loading: boolean; error: string | null }) {
  if (error)
    return (
      <Alert color="red" title="Could not load" role="alert">
        {error}
      </Alert>
    );
  if (loading)
    return (
      <Center p="md">
        <Loader size="sm" role="status" aria-label="Loading" />
      </Center>
    );
  return null;
}

export function PageTitle({ children, right }: { children: ReactNode; right?: ReactNode }) {
  return (
    <Group justify="space-between" mb="md" wrap="wrap">
      <Title order={1} size="h2">
        {children}
      </Title>
      {right}
    </Group>
  );
}

/** What an action did: in the system, and what is pending on the router. */
export function RouterEffect({
  result,
}: {
  result: {
    ok?: boolean;
    system?: string;
    router?: { status: string; message: string; task_id?: string | null; warning?: string | null } | null;
    warnings?: string[];
    error?: { message: string } | null;
  };
}) {
  if (result.ok === false && result.error) {
    return (
      <Alert color="red" title="Not done" role="alert">
        {result.error.message}
      </Alert>
    );
  }
  const r = result.router;
  return (
    <Alert color={r?.warning || (result.warnings ?? []).length ? 'yellow' : 'green'} title="Done" role="status" data-testid="action-result">
      {result.system && <Text size="sm">System: {result.system}</Text>}
      {r && (
        <Text size="sm" data-testid="router-effect" data-router-status={r.status}>
          Router: {r.status}
          {r.message ? ` — ${r.message}` : ''}
          {r.task_id ? ` (task ${r.task_id})` : ''}
        </Text>
      )}
      {r?.warning && <Text size="sm">{r.warning}</Text>}
      {(result.warnings ?? []).map((w) => (
        <Text size="sm" key={w}>
          {w}
        </Text>
      ))}
    </Alert>
  );
}

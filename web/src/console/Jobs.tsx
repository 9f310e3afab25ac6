// Background jobs (exports and bulk actions over any number of subscribers; imports): their progress
// while they run and, once done, the link to their file. The API answers a start at once (202 with the
// job); the worker does the rows page by page and the job's done / failed / total move as it goes.
import { Alert, Anchor, Badge, Button, CloseButton, Group, Paper, Progress, Select, Stack, Text } from '@mantine/core';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'react-router-dom';
import { admin, ok, rowsOf, session, type paths, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, useLoad } from '../ui/common';
import { STATUS_LABELS, when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';

export type Job = Schemas['JobView'];
type JobKind = NonNullable<NonNullable<paths['/admin/jobs']['get']['parameters']['query']>['kind']>;

/** A job in these statuses is still being worked on: its progress is read again. */
export const ACTIVE = new Set(['pending', 'running']);
const POLL_MS = 1500; // one read of a running job every 1.5 s …
const POLL_CEILING_MS = 30 * 60_000; // … for at most 30 minutes on one screen (then a button reads it again)
const POLL_ERRORS = 5; // consecutive failed reads before the screen stops asking

/** The actions of `POST /admin/subscribers/bulk-jobs/{action}`, as the console names them. */
export const JOB_ACTIONS = [
  { value: 'activate', label: 'Activate', verb: 'Activate' },
  { value: 'suspend', label: 'Suspend', verb: 'Suspend' },
  { value: 'disconnect', label: 'Disconnect', verb: 'Disconnect' },
  { value: 'free', label: 'Free status', verb: 'Set free status on' },
  { value: 'recharge', label: 'Recharge (assign a plan)', verb: 'Recharge' },
  { value: 'migrate', label: 'Migrate to a router / zone', verb: 'Migrate' },
  { value: 'cancel', label: 'Cancel the service', verb: 'Cancel the service of' },
  { value: 'delete', label: 'Delete from the system', verb: 'Delete' },
] as const;
export type JobAction = (typeof JOB_ACTIONS)[number]['value'];
export const actionLabel = (a: unknown) => JOB_ACTIONS.find((x) => x.value === a)?.label ?? String(a ?? '');

const KIND_LABELS: Record<string, string> = {
  subscriber_export: 'Export',
  subscriber_bulk: 'Bulk action',
  import_create: 'Import (new)',
  import_update: 'Import (updates)',
};

const JOB_STATUS_COLORS: Record<string, string> = {
  pending: 'gray',
  running: 'blue',
  done: 'green',
  failed: 'red',
  previewed: 'gray',
  completed: 'green',
  completed_with_errors: 'orange',
};

const FILTER_LABELS: Record<string, string> = { zone_id: 'zone', gateway_id: 'router', product_id: 'plan', connection_type: 'connection', tenant_id: 'tenant' };

/** The subscriber list's filters in words (`status Active, search “ana”`). */
export function describeFilter(f: unknown): string {
  const filter = (f ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (filter.status) parts.push(`status ${STATUS_LABELS[String(filter.status)] ?? String(filter.status)}`);
  if (filter.q) parts.push(`search “${String(filter.q)}”`);
  for (const [k, label] of Object.entries(FILTER_LABELS)) if (filter[k]) parts.push(`${label} ${String(filter[k])}`);
  return parts.length ? parts.join(', ') : 'no filter: every subscriber';
}

/** What a job does, in one line. */
export function jobTitle(job: Job): string {
  const p = (job.params ?? {}) as Record<string, unknown>;
  if (job.kind === 'subscriber_export') return `Export to ${String(p.format ?? 'csv').toUpperCase()}: ${describeFilter(p.filter)}`;
  if (job.kind === 'subscriber_bulk') {
    const what = p.source === 'filter' ? `all matching (${describeFilter(p.filter)})` : `${String(p.count ?? job.total ?? '')} chosen subscribers`;
    return `${actionLabel(p.action)}: ${what}`;
  }
  return KIND_LABELS[job.kind] ?? job.kind;
}

export function JobStatus({ status }: { status: string }) {
  return (
    <Badge color={JOB_STATUS_COLORS[status] ?? 'gray'} data-job-status={status} style={{ flexShrink: 0, minWidth: 'max-content' }}>
      {status.replace(/_/g, ' ')}
    </Badge>
  );
}

/** `3 done · 1 failed of 4` (an export counts rows; the total is not known until the worker counted it). */
export function jobCounts(job: Job): string {
  const of = job.total === null || job.total === undefined ? '' : ` of ${job.total}`;
  if (job.kind === 'subscriber_export') return job.status === 'done' ? `${job.rows ?? job.done} rows` : `${job.done}${of} rows`;
  return `${job.done} done · ${job.failed} failed${of}`;
}

/** Done (green) and failed (red) of the total as one bar; a striped bar while the total is not known. */
export function JobBar({ job, size = 'lg' }: { job: Job; size?: string }) {
  const label = `Progress of ${jobTitle(job)}`;
  const running = ACTIVE.has(job.status);
  if (!job.total) {
    // not counted yet (striped while it runs), or nothing to do: a full bar once it ended
    const color = running ? 'gray' : job.status === 'failed' ? 'red' : 'green';
    return <Progress value={100} color={color} striped={running} animated={running} size={size} aria-label={label} />;
  }
  const pct = (n: number) => Math.min(100, (n / job.total!) * 100);
  return (
    <Progress.Root size={size}>
      <Progress.Section value={pct(job.done)} color="green" animated={running} striped={running} aria-label={`${label}: done`} />
      <Progress.Section value={pct(job.failed)} color="red" aria-label={`${label}: failed`} />
    </Progress.Root>
  );
}

function DownloadLink({ job, onNewLink }: { job: Job; onNewLink?: () => void }) {
  const expires = job.download_expires_at ? new Date(job.download_expires_at) : null;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!expires) return;
    const t = window.setTimeout(() => setNow(Date.now()), Math.max(1000, expires.getTime() - Date.now()));
    return () => window.clearTimeout(t);
  }, [job.download_expires_at]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!job.download_url) return null;
  const file = String((job.result as { filename?: string } | undefined)?.filename ?? (job.kind === 'subscriber_export' ? 'the export' : 'the report'));
  const expired = expires !== null && expires.getTime() <= now;
  return (
    <Group gap="xs">
      {expired ? (
        <Text size="sm">The download link has expired.</Text>
      ) : (
        <Anchor href={job.download_url} data-testid="job-download">
          Download {file}
        </Anchor>
      )}
      {expires && !expired && (
        <Text size="xs" c="dark.4">
          link valid until {expires.toLocaleTimeString()}
        </Text>
      )}
      {expired && onNewLink && (
        <Button size="compact-xs" variant="default" onClick={onNewLink}>
          New link
        </Button>
      )}
    </Group>
  );
}

/** Follow one job: read it every POLL_MS while it runs (up to POLL_CEILING_MS); `refresh` reads it again
 * now (a new download link, or following it again after the ceiling). */
export function useJob(initial: Job, onSettled?: (job: Job) => void) {
  const [job, setJob] = useState<Job>(initial);
  const [error, setError] = useState<string | null>(null);
  const [stopped, setStopped] = useState(false);
  const [nonce, setNonce] = useState(0);
  const settled = useRef(onSettled);
  settled.current = onSettled;
  useEffect(() => {
    let cancelled = false;
    let timer: number | undefined;
    let failures = 0;
    const started = Date.now();
    setStopped(false);
    async function tick() {
      try {
        const j = await ok(admin.GET('/admin/jobs/{job_id}', { params: { path: { job_id: initial.id } } }));
        if (cancelled) return;
        failures = 0;
        setJob(j);
        setError(null);
        if (!ACTIVE.has(j.status)) {
          settled.current?.(j);
          return;
        }
      } catch (e) {
        if (cancelled) return;
        setError(e instanceof Error ? e.message : String(e));
        if (++failures >= POLL_ERRORS) return setStopped(true);
      }
      if (Date.now() - started > POLL_CEILING_MS) return setStopped(true);
      timer = window.setTimeout(tick, POLL_MS);
    }
    // a job that has already ended is read only when asked (nonce > 0): its link is fresh
    if (ACTIVE.has(initial.status) || nonce > 0) timer = window.setTimeout(tick, nonce > 0 ? 0 : POLL_MS);
    return () => {
      cancelled = true;
      window.clearTimeout(timer);
    };
  }, [initial.id, nonce]); // eslint-disable-line react-hooks/exhaustive-deps
  return { job, error, stopped, refresh: () => setNonce((n) => n + 1) };
}

/** One job's progress as a panel: what it does, its status, the bar, the counts and, when done, its file. */
export function JobProgress({ initial, onClose, onSettled }: { initial: Job; onClose?: () => void; onSettled?: (job: Job) => void }) {
  const { job, error, stopped, refresh } = useJob(initial, onSettled);
  const title = jobTitle(job);
  const outcome = job.result as { error?: string } | undefined;
  return (
    <Paper withBorder p="sm" component="section" aria-label={`Job: ${title}`} data-testid="job-progress" data-job-id={job.id} data-job-status={job.status}>
      <Stack gap={6}>
        <Group justify="space-between" wrap="nowrap" align="start">
          <Group gap="xs">
            <Text fw={600} size="sm">
              {title}
            </Text>
            <JobStatus status={job.status} />
          </Group>
          {onClose && <CloseButton aria-label={`Hide the job ${title}`} onClick={onClose} size="sm" />}
        </Group>
        <JobBar job={job} />
        <Text size="sm" data-testid="job-counts" aria-live="polite">
          {jobCounts(job)}
        </Text>
        {job.status === 'failed' && outcome?.error && (
          <Alert color="red" role="alert" p="xs">
            {outcome.error}
          </Alert>
        )}
        <DownloadLink job={job} onNewLink={refresh} />
        {error && (
          <Alert color="red" role="alert" p="xs">
            Could not read the job: {error}
          </Alert>
        )}
        {stopped && ACTIVE.has(job.status) && (
          <Group gap="xs">
            <Text size="sm">Still running: this screen stopped following it.</Text>
            <Button size="compact-xs" variant="default" onClick={refresh}>
              Follow again
            </Button>
            <Anchor component={Link} to="/jobs" size="sm">
              Jobs page
            </Anchor>
          </Group>
        )}
      </Stack>
    </Paper>
  );
}

const KIND_OPTIONS: { value: JobKind; label: string }[] = [
  { value: 'subscriber_export', label: 'Exports' },
  { value: 'subscriber_bulk', label: 'Bulk actions' },
  { value: 'import_create', label: 'Imports (new)' },
  { value: 'import_update', label: 'Imports (updates)' },
];
const REFRESH_MS = 2000;
const REFRESH_CEILING_MS = 30 * 60_000;

/** Recent jobs of the tenant (or the caller's subtree), newest first; read again while any runs. */
export function Jobs() {
  const tenant_id = session.tenant();
  const [kind, setKind] = useState<JobKind | null>(null);
  const list = usePagedList<Job>((cursor) => ok(admin.GET('/admin/jobs', { params: { query: { tenant_id, kind: kind ?? undefined, cursor } } })), [kind]);
  const me = useLoad(() => ok(admin.GET('/admin/me')), []);
  // operators' e-mails for "who" (managers may list operators; others see the ids)
  const operators = useLoad(() => ok(admin.GET('/admin/operators', { params: { query: { tenant_id } } })).catch(() => undefined), []);
  const names = useMemo(() => {
    const m = new Map<string, string>();
    for (const o of rowsOf<Schemas['OperatorOut']>(operators.data)) m.set(o.id, o.email);
    if (me.data?.operator) m.set(me.data.actor_id, `${me.data.operator.email} (you)`);
    return m;
  }, [operators.data, me.data]);
  const items = list.rows;
  const running = (items ?? []).some((j) => ACTIVE.has(j.status));
  const [since, setSince] = useState(() => Date.now());
  const paused = running && Date.now() - since > REFRESH_CEILING_MS;
  useEffect(() => {
    if (!running || paused || list.error) return;
    const t = window.setTimeout(list.reload, REFRESH_MS);
    return () => window.clearTimeout(t);
  }, [items, running, paused, list.error]); // eslint-disable-line react-hooks/exhaustive-deps
  const reload = () => {
    setSince(Date.now());
    list.reload();
  };
  return (
    <>
      <PageTitle
        right={
          <Group align="end">
            <Select aria-label="Kind" placeholder="Every kind" data={KIND_OPTIONS} value={kind} onChange={(v) => setKind(v as JobKind | null)} clearable w={190} />
            <Button variant="default" onClick={reload} loading={list.loading && !!list.rows}>
              Refresh
            </Button>
          </Group>
        }
      >
        Jobs
      </PageTitle>
      <Text size="sm" mb="sm" data-testid="jobs-refresh">
        {running ? (paused ? 'Some jobs are still running: Refresh to follow them again.' : 'Some jobs are running: this list is read again every 2 seconds.') : 'Exports and bulk actions started from the subscriber list, and imports.'}
      </Text>
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable<Job>
        caption="Jobs"
        rows={items}
        rowKey={(j) => j.id}
        empty="No jobs yet"
        rowProps={(j) => ({ 'data-job-id': j.id, 'data-job-status': j.status })}
        columns={[
          { key: 'kind', label: 'Kind', render: (j) => KIND_LABELS[j.kind] ?? j.kind },
          { key: 'what', label: 'What', render: (j) => (j.kind.startsWith('import') ? '—' : jobTitle(j)) },
          { key: 'status', label: 'Status', render: (j) => <JobStatus status={j.status} /> },
          {
            key: 'progress',
            label: 'Progress',
            render: (j) => (
              <Stack gap={2} miw={160}>
                <JobBar job={j} size="sm" />
                <Text size="xs" data-testid="job-counts">
                  {jobCounts(j)}
                </Text>
              </Stack>
            ),
          },
          { key: 'created_at', label: 'Created', render: (j) => when(j.created_at) },
          { key: 'created_by', label: 'Who', render: (j) => (j.created_by ? (names.get(j.created_by) ?? j.created_by) : '—') },
          { key: 'file', label: 'File', render: (j) => (j.download_url ? <DownloadLink job={j} onNewLink={reload} /> : j.status === 'failed' ? String((j.result as { error?: string } | undefined)?.error ?? '—') : '—') },
        ]}
      />
      <LoadMore list={list} what="jobs" />
    </>
  );
}

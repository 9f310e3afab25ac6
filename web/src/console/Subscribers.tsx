import {
  Alert,
  Anchor,
  Button,
  Checkbox,
  Group,
  Menu,
  Modal,
  Paper,
  PasswordInput,
  Progress,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
  UnstyledButton,
} from '@mantine/core';
import { useDebouncedValue, useLocalStorage } from '@mantine/hooks';
import { useMemo, useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { admin, download, errorText, fieldErrors, ok, session, type paths, type Schemas, rowsOf } from '../api/client';
import { Loading, PageTitle, RouterEffect, StatusBadge, useLoad } from '../ui/common';
import { money, STATUS_COLORS, STATUS_LABELS } from '../ui/format';
import { describeFilter, JOB_ACTIONS, JobProgress, type Job, type JobAction } from './Jobs';

type Row = Schemas['SubscriberRow'];
type StatusFilter = NonNullable<NonNullable<paths['/admin/subscribers']['get']['parameters']['query']>['status']>;
type ListFilter = Schemas['ListFilter'];

const STATUS_ORDER = ['all', 'new', 'active', 'online', 'online_24h', 'suspended', 'inactive', 'cancelled', 'free'];
const SORTS = [
  { value: 'username', label: 'Login A–Z' },
  { value: '-username', label: 'Login Z–A' },
  { value: 'name', label: 'Name' },
  { value: '-created_at', label: 'Newest first' },
  { value: 'created_at', label: 'Oldest first' },
  { value: 'status', label: 'Status' },
  { value: 'ip', label: 'IP' },
  { value: '-last_seen_at', label: 'Last seen' },
  { value: '-price', label: 'Price (high first)' },
];

function Totals({ q, status, onPick }: { q: string; status: string; onPick: (s: string) => void }) {
  const totals = useLoad(
    () => ok(admin.GET('/admin/subscribers/totals', { params: { query: { q: q || undefined, tenant_id: session.tenant() } } })),
    [q],
  );
  const statuses = totals.data?.statuses ?? {};
  // a sum per currency: prices of different currencies are never added together
  const sums = (s: string): string[] =>
    totals.data?.currency
      ? [`${statuses[s].services_total ?? '0'} ${totals.data.currency}`]
      : (totals.data?.by_currency ?? []).filter((c) => (c.statuses[s]?.count ?? 0) > 0).map((c) => `${c.statuses[s].services_total ?? '0'} ${c.currency}`);
  return (
    <section aria-label="Totals per status">
      <SimpleGrid cols={{ base: 2, xs: 3, md: 5, lg: 9 }} spacing="xs" mb="md">
        {STATUS_ORDER.filter((s) => statuses[s]).map((s) => (
          <UnstyledButton
            key={s}
            onClick={() => onPick(s === 'all' ? '' : s)}
            aria-pressed={(status || 'all') === s}
            data-testid={`total-${s}`}
          >
            <Paper withBorder p="xs" style={{ borderLeft: `4px solid var(--mantine-color-${STATUS_COLORS[s] ?? 'indigo'}-6)` }} bg={(status || 'all') === s ? 'indigo.0' : undefined}>
              <Text size="xs" c="dark.4">
                {s === 'all' ? 'All' : STATUS_LABELS[s]}
              </Text>
              <Text fw={700} size="lg" data-testid={`total-${s}-count`}>
                {statuses[s].count}
              </Text>
              {(sums(s).length > 0 ? sums(s) : ['—']).map((sum) => (
                <Text size="xs" c="dark.4" key={sum}>
                  {sum}
                </Text>
              ))}
            </Paper>
          </UnstyledButton>
        ))}
      </SimpleGrid>
    </section>
  );
}

const BULK_ACTIONS = [
  { value: 'activate', label: 'Activate' },
  { value: 'suspend', label: 'Suspend' },
  { value: 'disconnect', label: 'Disconnect' },
  { value: 'free', label: 'Free status' },
] as const;
type BulkAction = (typeof BULK_ACTIONS)[number]['value'];

function BulkRunner({ ids, action, onClose }: { ids: string[]; action: BulkAction; onClose: () => void }) {
  const [results, setResults] = useState<Schemas['ActionResult'][]>([]);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const done = results.length;
  async function run() {
    setRunning(true);
    setError(null);
    const chunk = 20; // one request per chunk: the bar moves as the rows are done
    for (let i = 0; i < ids.length; i += chunk) {
      const part = ids.slice(i, i + chunk);
      try {
        const res = await ok(admin.POST(`/admin/subscribers/bulk/${action}`, { body: { subscriber_ids: part } }));
        setResults((r) => [...r, ...res.results]);
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
        break;
      }
    }
    setRunning(false);
  }
  return (
    <Modal opened onClose={onClose} title={`${BULK_ACTIONS.find((a) => a.value === action)?.label}: ${ids.length} subscribers`} size="lg">
      <Stack>
        {done === 0 && !running && (
          <>
            <Text>This changes {ids.length} subscribers in the system and queues the router changes.</Text>
            <Button onClick={run} color={action === 'suspend' ? 'red' : undefined}>
              Confirm
            </Button>
          </>
        )}
        {(running || done > 0) && (
          <Progress value={(done / ids.length) * 100} aria-label="Progress" size="lg" animated={running} />
        )}
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        {done > 0 && (
          <Table aria-label="Result per subscriber">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Subscriber</Table.Th>
                <Table.Th>Result</Table.Th>
                <Table.Th>Router</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {results.map((r) => (
                <Table.Tr key={r.subscriber_id}>
                  <Table.Td>{r.subscriber_id}</Table.Td>
                  <Table.Td>{r.ok ? r.system || 'done' : r.error?.message}</Table.Td>
                  <Table.Td>{r.router?.message ?? '—'}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        {done === ids.length && <Text fw={600}>{results.filter((r) => r.ok).length} done, {results.filter((r) => !r.ok).length} failed</Text>}
      </Stack>
    </Modal>
  );
}

/** Start a bulk job on every subscriber `filter` matches, with the action's options. */
function startBulkJob(action: JobAction, filter: ListFilter, v: Record<string, string | boolean>) {
  const text = (k: string) => (v[k] ? String(v[k]) : undefined);
  switch (action) {
    case 'recharge':
      return admin.POST('/admin/subscribers/bulk-jobs/recharge', { body: { filter, product_id: text('product_id') as string, price_override: text('price_override') } });
    case 'migrate':
      return admin.POST('/admin/subscribers/bulk-jobs/migrate', { body: { filter, gateway_id: text('gateway_id') as string, zone_id: text('zone_id') } });
    case 'cancel':
      return admin.POST('/admin/subscribers/bulk-jobs/cancel', { body: { filter, cancel_pending_invoices: !!v.cancel_pending_invoices, ip_action: v.ip_action as 'none' } });
    case 'delete':
      return admin.POST('/admin/subscribers/bulk-jobs/delete', { body: { filter, mode: 'system' } });
    default:
      return admin.POST(`/admin/subscribers/bulk-jobs/${action}`, { body: { filter, reason: text('reason') } });
  }
}

/** "Apply to all N matching": the confirmation (naming the action and the count), the action's options,
 * and the start of the job; the API's refusals are shown beside the fields they name. */
function BulkJobDialog({ action, count, filter, onClose, onStarted }: { action: JobAction; count: number; filter: ListFilter; onClose: () => void; onStarted: (job: Job) => void }) {
  const a = JOB_ACTIONS.find((x) => x.value === action)!;
  const tenant_id = session.tenant();
  const [v, setV] = useState<Record<string, string | boolean>>({ ip_action: 'none', cancel_pending_invoices: false });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const products = useLoad(() => (action === 'recharge' ? ok(admin.GET('/admin/products', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [action]);
  const gateways = useLoad(() => (action === 'migrate' ? ok(admin.GET('/admin/gateways', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [action]);
  const zones = useLoad(() => (action === 'migrate' ? ok(admin.GET('/admin/zones', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [action]);
  const set = (k: string) => (x: string | boolean | null) => setV((o) => ({ ...o, [k]: x ?? '' }));
  const fe = (k: string) => fields[k] ?? fields[`filter.${k}`];
  const unfiltered = !filter.status && !filter.q;
  // deleting, or acting on every subscriber of the tenant, asks for the count typed out
  const typeCount = action === 'delete' || unfiltered;
  const danger = ['suspend', 'disconnect', 'cancel', 'delete'].includes(action);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setFields({});
    const { data, error: err } = await startBulkJob(action, filter, v);
    setBusy(false);
    if (!data) {
      setFields(fieldErrors(err));
      return setError(errorText(err));
    }
    onStarted(data);
    onClose();
  }
  const opts = (list: { id: string; name: string }[]) => list.map((x) => ({ value: x.id, label: x.name }));
  return (
    <Modal opened onClose={onClose} title={`${a.label}: all ${count} matching subscribers`} size="lg">
      <form onSubmit={submit} aria-label={`${a.label}: all matching subscribers`}>
        <Stack gap="sm">
          <Text data-testid="bulk-job-confirm">
            {a.verb} all <b>{count}</b> subscribers that match {unfiltered ? <b>no filter: every subscriber of the list</b> : <>the filters <b>{describeFilter(filter)}</b></>}. It runs in the background,
            each subscriber checked against the filters when the job reaches it; follow its progress here or on the Jobs page.
          </Text>
          {['activate', 'suspend', 'disconnect', 'free'].includes(action) && (
            <TextInput label="Reason (optional)" value={String(v.reason ?? '')} onChange={(e) => set('reason')(e.currentTarget.value)} error={fe('reason')} />
          )}
          {action === 'recharge' && (
            <>
              <Select label="Plan" required data={rowsOf<Schemas['ProductOut']>(products.data).map((p) => ({ value: p.id, label: `${p.name} (${p.price})` }))} value={String(v.product_id ?? '') || null} onChange={set('product_id')} error={fe('product_id')} />
              <TextInput label="Price override (optional)" value={String(v.price_override ?? '')} onChange={(e) => set('price_override')(e.currentTarget.value)} error={fe('price_override')} />
            </>
          )}
          {action === 'migrate' && (
            <>
              <Select label="Router" required data={opts(rowsOf<Schemas['GatewayOut']>(gateways.data))} value={String(v.gateway_id ?? '') || null} onChange={set('gateway_id')} error={fe('gateway_id')} />
              <Select label="Zone" data={opts(rowsOf<Schemas['ZoneOut']>(zones.data))} value={String(v.zone_id ?? '') || null} onChange={set('zone_id')} clearable error={fe('zone_id')} />
            </>
          )}
          {action === 'cancel' && (
            <>
              <Checkbox label="Cancel all pending invoices" checked={!!v.cancel_pending_invoices} onChange={(e) => set('cancel_pending_invoices')(e.currentTarget.checked)} error={fe('cancel_pending_invoices')} />
              <Radio.Group label="The IP addresses" value={String(v.ip_action)} onChange={set('ip_action')} error={fe('ip_action')}>
                <Stack gap={4} mt={4}>
                  <Radio value="none" label="Leave them as they are" />
                  <Radio value="release" label="Release them in the system and on the router" />
                  <Radio value="keep_suspend" label="Keep them and block them on the router" />
                </Stack>
              </Radio.Group>
            </>
          )}
          {action === 'delete' && <Text size="sm">Irreversible. They are deleted from the system only; their entries on the routers are left as they are.</Text>}
          {typeCount && (
            <TextInput label={`Type ${count} to confirm`} value={String(v.confirm_count ?? '')} onChange={(e) => set('confirm_count')(e.currentTarget.value)} autoComplete="off" />
          )}
          {error && (
            <Alert color="red" role="alert" title="The job was not started">
              {error}
            </Alert>
          )}
          <Group>
            <Button type="submit" loading={busy} color={danger ? 'red' : undefined} disabled={typeCount && String(v.confirm_count ?? '').trim() !== String(count)}>
              {a.verb} {count} subscribers
            </Button>
            <Button variant="default" onClick={onClose}>
              Back
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

function NewSubscriber({ onClose, onCreated }: { onClose: () => void; onCreated: () => void }) {
  const tenant_id = session.tenant();
  const zones = useLoad(() => ok(admin.GET('/admin/zones', { params: { query: { tenant_id } } })), []);
  const gateways = useLoad(() => ok(admin.GET('/admin/gateways', { params: { query: { tenant_id } } })), []);
  const products = useLoad(() => ok(admin.GET('/admin/products', { params: { query: { tenant_id } } })), []);
  const [form, setForm] = useState({ username: '', name: '', phone: '', email: '', password: '', connection_type: 'pppoe', zone_id: '', gateway_id: '', product_id: '', ip: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<Schemas['SubscriberCreated'] | null>(null);
  const set = (k: keyof typeof form) => (v: string | null) => setForm((f) => ({ ...f, [k]: v ?? '' }));
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body = Object.fromEntries(Object.entries(form).filter(([, v]) => v !== '')) as unknown as Schemas['SubscriberIn'];
    if (tenant_id) body.tenant_id = tenant_id;
    const { data, error: err } = await admin.POST('/admin/subscribers', { body });
    setBusy(false);
    if (!data) return setError(errorText(err));
    setCreated(data);
    onCreated();
  }
  const opts = (list: { id: string; name: string }[] | undefined) => (list ?? []).map((x) => ({ value: x.id, label: x.name }));
  return (
    <Modal opened onClose={onClose} title="New subscriber" size="lg">
      {created ? (
        <Stack>
          <Text>
            <b>{created.subscriber.username}</b> was created. Network password: <code data-testid="new-password">{created.password}</code>
          </Text>
          <RouterEffect result={{ system: created.system, router: created.router, warnings: created.warnings }} />
          <Group>
            <Button component={Link} to={`/subscribers/${created.subscriber.id}`}>
              Open subscriber
            </Button>
            <Button variant="default" onClick={onClose}>
              Close
            </Button>
          </Group>
        </Stack>
      ) : (
        <form onSubmit={submit} aria-label="New subscriber">
          <Stack gap="xs">
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <TextInput label="Login (username)" required value={form.username} onChange={(e) => set('username')(e.currentTarget.value)} />
              <PasswordInput label="Network password" description="random when left empty" value={form.password} onChange={(e) => set('password')(e.currentTarget.value)} />
              <TextInput label="Name" value={form.name} onChange={(e) => set('name')(e.currentTarget.value)} />
              <TextInput label="Phone" value={form.phone} onChange={(e) => set('phone')(e.currentTarget.value)} />
              <TextInput label="E-mail" type="email" value={form.email} onChange={(e) => set('email')(e.currentTarget.value)} />
              <TextInput label="IP address" description="free IP of the pool when empty" value={form.ip} onChange={(e) => set('ip')(e.currentTarget.value)} />
              <Select label="Connection type" data={['pppoe', 'hotspot', 'simple_queue', 'pcq']} value={form.connection_type} onChange={set('connection_type')} allowDeselect={false} />
              <Select label="Zone" data={opts(rowsOf<Schemas['ZoneOut']>(zones.data))} value={form.zone_id || null} onChange={set('zone_id')} clearable />
              <Select label="Router" data={opts(rowsOf<Schemas['GatewayOut']>(gateways.data))} value={form.gateway_id || null} onChange={set('gateway_id')} clearable />
              <Select label="Plan" data={opts(rowsOf<Schemas['ProductOut']>(products.data))} value={form.product_id || null} onChange={set('product_id')} clearable />
            </SimpleGrid>
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Button type="submit" loading={busy}>
              Create
            </Button>
          </Stack>
        </form>
      )}
    </Modal>
  );
}

export function Subscribers() {
  const navigate = useNavigate();
  const [status, setStatus] = useState('');
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(search, 300);
  const [sort, setSort] = useState('username');
  const [limit, setLimit] = useState('50');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [colored, setColored] = useLocalStorage({ key: 'wisp.colored', defaultValue: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<BulkAction | null>(null);
  const [bulkJob, setBulkJob] = useState<JobAction | null>(null);
  const [jobs, setJobs] = useState<Job[]>([]); // background jobs started from this page, newest first
  const [jobError, setJobError] = useState<string | null>(null);
  const [filterErrors, setFilterErrors] = useState<Record<string, string>>({});
  const [creating, setCreating] = useState(false);
  const [refresh, setRefresh] = useState(0);
  const cursor = cursors[cursors.length - 1];
  const list = useLoad(
    () =>
      ok(
        admin.GET('/admin/subscribers', {
          params: {
            query: {
              status: (status || undefined) as StatusFilter,
              q: q || undefined,
              sort,
              limit: Number(limit),
              cursor,
              tenant_id: session.tenant(),
            },
          },
        }),
      ),
    [status, q, sort, limit, cursor, refresh],
  );
  const products = useLoad(() => ok(admin.GET('/admin/products', { params: { query: { tenant_id: session.tenant() } } })), []);
  const productIds = useMemo(() => new Set(rowsOf<Schemas['ProductOut']>(products.data).map((p) => p.id)), [products.data]);
  const resetPaging = () => {
    setCursors([undefined]);
    setSelected(new Set());
    setFilterErrors({});
  };
  // the list's filters as the jobs take them (the same as GET /admin/subscribers)
  const filter: ListFilter = {
    ...(status ? { status: status as StatusFilter } : {}),
    ...(q ? { q } : {}),
    ...(session.tenant() ? { tenant_id: session.tenant() } : {}),
  };
  const matching = list.data?.total ?? 0;
  const started = (job: Job) => {
    setJobError(null);
    setJobs((js) => [job, ...js]);
  };
  async function exportJob() {
    setJobError(null);
    setFilterErrors({});
    const { data, error } = await admin.POST('/admin/subscribers/export-jobs', { body: { ...filter, sort, format: 'csv' } });
    if (!data) {
      setFilterErrors(fieldErrors(error));
      return setJobError(errorText(error));
    }
    started(data);
  }
  const rows = list.data?.items ?? [];
  const allChecked = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const toggle = (id: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });

  return (
    <>
      <PageTitle
        right={
          <Group>
            <Switch label="Colour rows by status" checked={colored} onChange={(e) => setColored(e.currentTarget.checked)} />
            <Menu>
              <Menu.Target>
                <Button variant="default">Export</Button>
              </Menu.Target>
              <Menu.Dropdown>
                {(['csv', 'xlsx'] as const).map((format) => (
                  <Menu.Item
                    key={format}
                    onClick={() =>
                      download(
                        `/admin/subscribers/export?${new URLSearchParams({ sort, format, ...(status ? { status } : {}), ...(q ? { q } : {}), ...(session.tenant() ? { tenant_id: session.tenant()! } : {}) })}`,
                        `subscribers.${format}`,
                      ).catch((e: Error) => alert(e.message))
                    }
                  >
                    {format.toUpperCase()}
                  </Menu.Item>
                ))}
                <Menu.Divider />
                <Menu.Item onClick={exportJob}>Export all matching (background)</Menu.Item>
              </Menu.Dropdown>
            </Menu>
            <Button onClick={() => setCreating(true)}>New subscriber</Button>
          </Group>
        }
      >
        Subscribers
      </PageTitle>
      <Totals q={q} status={status} onPick={(s) => { setStatus(s); resetPaging(); }} key={refresh} />
      <Group mb="sm" align="end" wrap="wrap">
        <TextInput label="Search" placeholder="login, name, phone, IP, MAC…" value={search} onChange={(e) => { setSearch(e.currentTarget.value); resetPaging(); }} w={280} error={filterErrors.q} />
        <Select
          label="Status"
          data={[{ value: '', label: 'All' }, ...STATUS_ORDER.slice(1).map((s) => ({ value: s, label: STATUS_LABELS[s] }))]}
          value={status}
          onChange={(v) => { setStatus(v ?? ''); resetPaging(); }}
          allowDeselect={false}
          w={170}
          error={filterErrors.status}
        />
        <Select label="Sort" data={SORTS} value={sort} onChange={(v) => { setSort(v ?? 'username'); resetPaging(); }} allowDeselect={false} w={170} error={filterErrors.sort} />
        <Select label="Per page" data={['25', '50', '100', '250']} value={limit} onChange={(v) => { setLimit(v ?? '50'); resetPaging(); }} allowDeselect={false} w={100} />
        <Menu>
          <Menu.Target>
            <Button variant="light" disabled={selected.size === 0}>
              Bulk action ({selected.size})
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            {BULK_ACTIONS.map((a) => (
              <Menu.Item key={a.value} onClick={() => setBulk(a.value)}>
                {a.label}
              </Menu.Item>
            ))}
          </Menu.Dropdown>
        </Menu>
        <Menu>
          <Menu.Target>
            <Button variant="light" disabled={!list.data || matching === 0 || list.loading}>
              Apply to all {list.data ? matching : ''} matching
            </Button>
          </Menu.Target>
          <Menu.Dropdown>
            <Menu.Label>In the background, on every match</Menu.Label>
            {JOB_ACTIONS.map((a) => (
              <Menu.Item key={a.value} onClick={() => setBulkJob(a.value)}>
                {a.label}
              </Menu.Item>
            ))}
          </Menu.Dropdown>
        </Menu>
      </Group>
      {(jobs.length > 0 || jobError) && (
        <section aria-label="Background jobs">
          <Stack gap="xs" mb="sm">
            {jobError && (
              <Alert color="red" role="alert" title="The job was not started">
                {jobError}
              </Alert>
            )}
            {jobs.map((j) => (
              <JobProgress
                key={j.id}
                initial={j}
                onClose={() => setJobs((js) => js.filter((x) => x.id !== j.id))}
                onSettled={(done) => done.kind === 'subscriber_bulk' && setRefresh((n) => n + 1)}
              />
            ))}
            {jobs.length > 0 && (
              <Anchor component={Link} to="/jobs" size="sm">
                All jobs
              </Anchor>
            )}
          </Stack>
        </section>
      )}
      <Loading loading={list.loading && !list.data} error={list.error} />
      <Table.ScrollContainer minWidth={800}>
        <Table highlightOnHover withTableBorder aria-label="Subscribers" data-testid="subscriber-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={36}>
                <Checkbox aria-label="Select all on this page" checked={allChecked} onChange={() => setSelected(allChecked ? new Set() : new Set(rows.map((r) => r.id)))} />
              </Table.Th>
              <Table.Th>Login</Table.Th>
              <Table.Th>Name</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Phone</Table.Th>
              <Table.Th>IP</Table.Th>
              <Table.Th>Plan</Table.Th>
              <Table.Th style={{ textAlign: 'right' }}>Price</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((r: Row) => (
              <Table.Tr
                key={r.id}
                data-status={r.status}
                bg={colored ? `var(--mantine-color-${STATUS_COLORS[r.status] ?? 'gray'}-1)` : undefined}
                style={{ cursor: 'pointer' }}
                onClick={(e) => {
                  if ((e.target as HTMLElement).closest('a,input,button')) return;
                  navigate(`/subscribers/${r.id}`);
                }}
              >
                <Table.Td>
                  <Checkbox aria-label={`Select ${r.username}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} />
                </Table.Td>
                <Table.Td>
                  <Anchor component={Link} to={`/subscribers/${r.id}`} c="dark.9" fw={600}>
                    {r.username}
                  </Anchor>
                </Table.Td>
                <Table.Td>{r.name ?? '—'}</Table.Td>
                <Table.Td>
                  <StatusBadge status={r.status} />
                  {r.online && <StatusBadge status="online" />}
                </Table.Td>
                <Table.Td>{r.phone ?? '—'}</Table.Td>
                <Table.Td>{r.ip ?? '—'}</Table.Td>
                <Table.Td>
                  {r.product_id && productIds.has(r.product_id) ? (
                    <Anchor component={Link} to={`/products?focus=${r.product_id}`} c="indigo.9">
                      {r.product_name ?? r.product_id}
                    </Anchor>
                  ) : (
                    (r.product_name ?? '—')
                  )}
                </Table.Td>
                <Table.Td style={{ textAlign: 'right' }}>{money(r.price, r.currency)}</Table.Td>
              </Table.Tr>
            ))}
            {list.data && rows.length === 0 && (
              <Table.Tr>
                <Table.Td colSpan={8}>
                  <Text ta="center" c="dark.4">
                    No subscriber matches
                  </Text>
                </Table.Td>
              </Table.Tr>
            )}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Group justify="space-between" mt="sm">
        <Text size="sm" data-testid="list-total">
          {list.data ? `${list.data.total} subscribers` : ''}
        </Text>
        <Group>
          <Button variant="default" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
            Previous
          </Button>
          <Button variant="default" disabled={!list.data?.next_cursor} onClick={() => setCursors((c) => [...c, list.data!.next_cursor!])}>
            Next
          </Button>
        </Group>
      </Group>
      {creating && <NewSubscriber onClose={() => setCreating(false)} onCreated={() => setRefresh((n) => n + 1)} />}
      {bulkJob && <BulkJobDialog action={bulkJob} count={matching} filter={filter} onClose={() => setBulkJob(null)} onStarted={started} />}
      {bulk && (
        <BulkRunner
          ids={[...selected]}
          action={bulk}
          onClose={() => {
            setBulk(null);
            setSelected(new Set());
            setRefresh((n) => n + 1);
          }}
        />
      )}
    </>
  );
}

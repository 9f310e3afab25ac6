import { LineChart } from '@mantine/charts';
import {
  Alert,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Fieldset,
  Group,
  Modal,
  NumberInput,
  Paper,
  ScrollArea,
  Select,
  SimpleGrid,
  Stack,
  Tabs,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core';
import { useMemo, useState, type FormEvent, type ReactNode } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { admin, errorText, ok, rowsOf, session, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, useLoad, type Column } from '../ui/common';
import { LoadMore, usePagedList } from '../ui/paging';
import { TaskTable, type Task } from './TaskTable';

const tenant_id = () => session.tenant();

/** A small create form in a modal: fields are declared, values are sent as the API's JSON body. */
interface Field {
  name: string;
  label: string;
  kind?: 'text' | 'number' | 'bool' | 'select' | 'password';
  options?: { value: string; label: string }[];
  required?: boolean;
  description?: string;
}

function CreateModal({ title, fields, onSubmit, onClose }: { title: string; fields: Field[]; onSubmit: (body: Record<string, unknown>) => Promise<unknown>; onClose: () => void }) {
  const [v, setV] = useState<Record<string, unknown>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== '' && x !== undefined && x !== null));
      if (tenant_id()) body.tenant_id = tenant_id();
      await onSubmit(body);
      onClose();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Modal opened onClose={onClose} title={title} size="lg">
      <form onSubmit={submit} aria-label={title}>
        <Stack gap="xs">
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            {fields.map((f) => {
              const set = (x: unknown) => setV((o) => ({ ...o, [f.name]: x }));
              if (f.kind === 'number')
                return <NumberInput key={f.name} label={f.label} description={f.description} required={f.required} value={(v[f.name] as number) ?? ''} onChange={(x) => set(x === '' ? undefined : x)} />;
              if (f.kind === 'bool') return <Checkbox key={f.name} mt="lg" label={f.label} checked={!!v[f.name]} onChange={(e) => set(e.currentTarget.checked)} />;
              if (f.kind === 'select')
                return <Select key={f.name} label={f.label} data={f.options ?? []} required={f.required} value={(v[f.name] as string) ?? null} onChange={set} clearable={!f.required} />;
              return (
                <TextInput
                  key={f.name}
                  label={f.label}
                  type={f.kind === 'password' ? 'password' : 'text'}
                  description={f.description}
                  required={f.required}
                  value={(v[f.name] as string) ?? ''}
                  onChange={(e) => set(e.currentTarget.value)}
                />
              );
            })}
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
    </Modal>
  );
}

function CataloguePage<T extends { id: string }>({
  title,
  load,
  columns,
  create,
  fields,
  highlight,
}: {
  title: string;
  load: () => Promise<unknown>;
  columns: Column<T>[];
  create: (body: Record<string, unknown>) => Promise<unknown>;
  fields: Field[];
  highlight?: string | null;
}) {
  const list = useLoad(load, []);
  const [open, setOpen] = useState(false);
  return (
    <>
      <PageTitle right={<Button onClick={() => setOpen(true)}>New</Button>}>{title}</PageTitle>
      <Loading loading={list.loading && !list.data} error={list.error} />
      <DataTable
        caption={title}
        rows={list.data === undefined ? undefined : rowsOf<T>(list.data)}
        rowKey={(r) => r.id}
        columns={columns}
        rowProps={(r) => (r.id === highlight ? { bg: 'yellow.1', 'data-focused': true } : {})}
      />
      {open && <CreateModal title={`New ${title.toLowerCase().replace(/s$/, '')}`} fields={fields} onSubmit={(b) => create(b).then(list.reload)} onClose={() => setOpen(false)} />}
    </>
  );
}

const DAY = (name: string, label: string): Field => ({ name, label, kind: 'number', description: 'day of the month (1–28)' });

export function Zones() {
  return (
    <CataloguePage<Schemas['ZoneOut']>
      title="Zones"
      load={() => ok(admin.GET('/admin/zones', { params: { query: { tenant_id: tenant_id() } } }))}
      create={(b) => ok(admin.POST('/admin/zones', { body: b as Schemas['ZoneIn'] }))}
      columns={[
        { key: 'name', label: 'Zone' },
        { key: 'timezone', label: 'Time zone' },
        { key: 'issue_day', label: 'Invoice day', align: 'right' },
        { key: 'notice_day', label: 'Notice day', align: 'right' },
        { key: 'payment_day', label: 'Payment day', align: 'right' },
        { key: 'cutoff_day', label: 'Cutoff day', align: 'right' },
        { key: 'auto_invoicing', label: 'Auto invoicing', render: (r) => (r.auto_invoicing ? 'yes' : 'no') },
        { key: 'auto_cutoff', label: 'Auto cutoff', render: (r) => (r.auto_cutoff ? 'yes' : 'no') },
      ]}
      fields={[
        { name: 'name', label: 'Name', required: true },
        { name: 'timezone', label: 'Time zone', description: 'e.g. America/Mexico_City' },
        DAY('issue_day', 'Invoice day'),
        DAY('notice_day', 'Notice day'),
        DAY('payment_day', 'Payment day'),
        DAY('cutoff_day', 'Cutoff day'),
        { name: 'auto_invoicing', label: 'Automatic invoicing', kind: 'bool' },
        { name: 'auto_cutoff', label: 'Automatic cutoff', kind: 'bool' },
      ]}
    />
  );
}

export function Gateways() {
  return (
    <CataloguePage<Schemas['GatewayOut']>
      title="Gateways"
      load={() => ok(admin.GET('/admin/gateways', { params: { query: { tenant_id: tenant_id() } } }))}
      create={(b) => ok(admin.POST('/admin/gateways', { body: b as Schemas['GatewayIn'] }))}
      columns={[
        { key: 'name', label: 'Router', render: (r) => <Link to={`/gateways/${r.id}`}>{r.name}</Link> },
        { key: 'vendor', label: 'Vendor' },
        { key: 'nas_ip', label: 'NAS IP' },
        { key: 'plan_type', label: 'Plan type' },
        { key: 'api_enabled', label: 'Router API', render: (r) => (r.api_enabled ? `on (${r.api_host ?? ''})` : 'off') },
        { key: 'blocked_address_list', label: 'Blocked list' },
        { key: 'vpn_address', label: 'VPN address' },
      ]}
      fields={[
        { name: 'name', label: 'Name', required: true },
        { name: 'nas_ip', label: 'NAS IP', required: true },
        { name: 'radius_secret', label: 'RADIUS secret', kind: 'password', required: true },
        { name: 'vendor', label: 'Vendor', kind: 'select', options: ['mikrotik', 'cisco_wlc', 'meraki', 'cloudtrax', 'unifi', 'ruckus', 'other'].map((x) => ({ value: x, label: x })) },
        { name: 'plan_type', label: 'Plan type', kind: 'select', options: ['pppoe', 'hotspot', 'simple_queue', 'pcq'].map((x) => ({ value: x, label: x })) },
        { name: 'api_enabled', label: 'Router API enabled', kind: 'bool' },
        { name: 'api_host', label: 'API host' },
        { name: 'api_username', label: 'API user' },
        { name: 'api_password', label: 'API password', kind: 'password' },
        { name: 'ip_pool', label: 'IP pool (CIDR)' },
        { name: 'timezone', label: 'Time zone' },
      ]}
    />
  );
}

function JsonBlock({ value }: { value: unknown }) {
  return (
    <ScrollArea.Autosize mah={360}>
      <Code block>{JSON.stringify(value, null, 2)}</Code>
    </ScrollArea.Autosize>
  );
}

export function GatewayDetail() {
  const { id = '' } = useParams();
  const p = { params: { path: { gateway_id: id } } };
  const gw = useLoad(() => ok(admin.GET('/admin/gateways/{gateway_id}', p)), [id]);
  const [script, setScript] = useState<string | null>(null);
  const [drift, setDrift] = useState<unknown>(null);
  const [msg, setMsg] = useState<ReactNode>(null);
  const tasks = usePagedList<Task>((next_token) => ok(admin.GET('/admin/gateways/{gateway_id}/tasks', { params: { path: { gateway_id: id }, query: { next_token } } })), [id, msg]);
  const act = async (fn: () => Promise<unknown>, done: (x: unknown) => void) => {
    try {
      done(await fn());
    } catch (e) {
      setMsg(<Alert color="red">{(e as Error).message}</Alert>);
    }
  };
  if (!gw.data) return <Loading loading={gw.loading} error={gw.error} />;
  return (
    <>
      <PageTitle>Router {gw.data.name}</PageTitle>
      {msg}
      <Tabs defaultValue="onboarding">
        <Tabs.List mb="md">
          <Tabs.Tab value="onboarding">Onboarding script</Tabs.Tab>
          <Tabs.Tab value="drift">Drift</Tabs.Tab>
          <Tabs.Tab value="tasks">Router tasks</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="onboarding">
          <Stack>
            <Text size="sm">A RouterOS script that joins this router: VPN, RADIUS, API user and the blocked-list rules.</Text>
            <Group>
              <Button
                onClick={() =>
                  act(
                    () => ok(admin.POST('/admin/gateways/{gateway_id}/onboarding-script', { ...p, body: {} })),
                    (x) => setScript(String((x as { script?: string }).script ?? JSON.stringify(x, null, 2))),
                  )
                }
              >
                Generate script
              </Button>
              {script && <CopyButton value={script}>{({ copied, copy }) => <Button variant="default" onClick={copy}>{copied ? 'Copied' : 'Copy'}</Button>}</CopyButton>}
            </Group>
            {script && (
              <ScrollArea.Autosize mah={420}>
                <Code block>{script}</Code>
              </ScrollArea.Autosize>
            )}
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="drift">
          <Stack>
            <Group>
              <Button onClick={() => act(() => ok(admin.GET('/admin/gateways/{gateway_id}/drift', p)), setDrift)}>Compare (dry run)</Button>
              <Button
                color="orange"
                onClick={() =>
                  act(
                    () => ok(admin.POST('/admin/gateways/{gateway_id}/export', { ...p, body: {} })),
                    (x) => setMsg(<Alert color="green">Repair queued: {JSON.stringify(x)}</Alert>),
                  )
                }
              >
                Repair (export every client to the router)
              </Button>
            </Group>
            {drift !== null && <JsonBlock value={drift} />}
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="tasks">
          <Button mb="sm" variant="default" onClick={() => act(() => ok(admin.POST('/admin/gateways/{gateway_id}/tasks/rerun-failed', p)), (x) => setMsg(<Alert color="green">{JSON.stringify(x)}</Alert>))}>
            Re-run failed tasks
          </Button>
          <Loading loading={tasks.loading && !tasks.rows} error={tasks.error} />
          <TaskTable data={tasks.rows} />
          <LoadMore list={tasks} what="tasks" />
        </Tabs.Panel>
      </Tabs>
    </>
  );
}

export function Products() {
  const [params] = useSearchParams();
  const policies = useLoad(() => ok(admin.GET('/admin/policies', { params: { query: { tenant_id: tenant_id() } } })), []);
  return (
    <CataloguePage<Schemas['ProductOut']>
      title="Products"
      highlight={params.get('focus')}
      load={() => ok(admin.GET('/admin/products', { params: { query: { tenant_id: tenant_id() } } }))}
      create={(b) => ok(admin.POST('/admin/products', { body: b as Schemas['ProductIn'] }))}
      columns={[
        { key: 'name', label: 'Plan' },
        { key: 'code', label: 'Code' },
        { key: 'price', label: 'Price', align: 'right' },
        { key: 'connection_type', label: 'Type' },
        { key: 'validity_days', label: 'Validity (days)', align: 'right' },
        { key: 'policy_id', label: 'Policy', render: (r) => (r.policy_id ? <Link to={`/policies/${r.policy_id}`}>{r.policy_id}</Link> : '—') },
        { key: 'active', label: 'Active', render: (r) => (r.active ? 'yes' : 'no') },
      ]}
      fields={[
        { name: 'name', label: 'Name', required: true },
        { name: 'code', label: 'Code' },
        { name: 'price', label: 'Price', required: true },
        { name: 'cost', label: 'Cost' },
        { name: 'policy_id', label: 'Policy', kind: 'select', options: rowsOf<Schemas['PolicyOut']>(policies.data).map((x) => ({ value: x.id, label: x.code })) },
        { name: 'connection_type', label: 'Connection type', kind: 'select', options: ['pppoe', 'hotspot', 'simple_queue', 'pcq'].map((x) => ({ value: x, label: x })) },
        { name: 'validity_days', label: 'Validity (days)', kind: 'number' },
        { name: 'time_credit_min', label: 'Time credit (min)', kind: 'number' },
        { name: 'data_credit_mb', label: 'Data credit (MB)', kind: 'number' },
      ]}
    />
  );
}

export function Policies() {
  const navigate = useNavigate();
  const list = useLoad(() => ok(admin.GET('/admin/policies', { params: { query: { tenant_id: tenant_id() } } })), []);
  return (
    <>
      <PageTitle right={<Button onClick={() => navigate('/policies/new')}>New</Button>}>Policies</PageTitle>
      <Loading loading={list.loading && !list.data} error={list.error} />
      <DataTable<Schemas['PolicyOut']>
        caption="Policies"
        rows={list.data === undefined ? undefined : rowsOf(list.data)}
        rowKey={(r) => r.id}
        columns={[
          { key: 'code', label: 'Code', render: (r) => <Link to={`/policies/${r.id}`}>{r.code}</Link> },
          { key: 'description', label: 'Description' },
          { key: 'download_rate', label: 'Download', align: 'right' },
          { key: 'upload_rate', label: 'Upload', align: 'right' },
          { key: 'monthly_data_mb', label: 'Monthly MB', align: 'right' },
          { key: 'max_devices', label: 'Devices', align: 'right' },
          { key: 'modulation', label: 'Modulation', render: (r) => String((r.modulation as { algorithm?: string } | null)?.algorithm ?? 'disabled') },
        ]}
      />
    </>
  );
}

// The degradation curves of core/modulation.py: rate = policy − (policy − min) × f(x).
const CURVES: Record<string, (x: number) => number> = {
  very_low: (x) => x ** 4,
  low: (x) => x ** 2,
  linear: (x) => x,
  medium: (x) => 1 - (1 - x) ** 2,
  high: (x) => 1 - (1 - x) ** 4,
  min_at_max: (x) => (x >= 1 ? 1 : 0),
  disabled: () => 0,
};

const NUMBER_FIELDS: [string, string][] = [
  ['download_rate', 'Download rate (bit/s)'],
  ['upload_rate', 'Upload rate (bit/s)'],
  ['session_timeout_min', 'Session timeout (min)'],
  ['idle_timeout_min', 'Idle timeout (min)'],
  ['interim_update_s', 'Interim update (s)'],
  ['daily_time_min', 'Daily time (min)'],
  ['weekly_time_min', 'Weekly time (min)'],
  ['monthly_time_min', 'Monthly time (min)'],
  ['daily_data_mb', 'Daily data (MB)'],
  ['weekly_data_mb', 'Weekly data (MB)'],
  ['monthly_data_mb', 'Monthly data (MB)'],
  ['first_day_of_week', 'First day of week (0–7)'],
  ['max_devices', 'Max devices'],
  ['concurrent_connections', 'Concurrent connections'],
  ['min_split_time_min', 'Min split time (min)'],
  ['min_split_data_mb', 'Min split data (MB)'],
];
const BURST_FIELDS = ['download_limit', 'upload_limit', 'download_threshold', 'upload_threshold', 'download_time', 'upload_time'];

type Obj = Record<string, unknown>;

export function PolicyEditor() {
  const { id = 'new' } = useParams();
  const navigate = useNavigate();
  const isNew = id === 'new';
  const loaded = useLoad(() => (isNew ? Promise.resolve(undefined) : ok(admin.GET('/admin/policies/{policy_id}', { params: { path: { policy_id: id } } }))), [id]);
  const [edits, setEdits] = useState<Obj>({});
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const base = (loaded.data ?? {}) as Obj;
  const v: Obj = { ...base, ...edits };
  const mod: Obj = { algorithm: 'disabled', ...((base.modulation as Obj) ?? {}), ...((edits.modulation as Obj) ?? {}) };
  const burst: Obj = { ...((base.burst as Obj) ?? {}), ...((edits.burst as Obj) ?? {}) };
  const set = (k: string, x: unknown) => setEdits((e) => ({ ...e, [k]: x }));
  const setMod = (k: string, x: unknown) => setEdits((e) => ({ ...e, modulation: { ...mod, [k]: x } }));
  const setBurst = (k: string, x: unknown) => setEdits((e) => ({ ...e, burst: { ...burst, [k]: x } }));
  const curve = useMemo(() => {
    const f = CURVES[String(mod.algorithm)] ?? CURVES.disabled;
    const rate = Number(v.download_rate ?? 0) / 1e6;
    const min = Number(mod.min_download_rate ?? 0) / 1e6;
    return Array.from({ length: 21 }, (_, i) => {
      const x = i / 20;
      return { used: `${i * 5}%`, 'Download Mbit/s': +(rate - (rate - min) * f(x)).toFixed(3) };
    });
  }, [mod.algorithm, mod.min_download_rate, v.download_rate]);
  if (!isNew && !loaded.data) return <Loading loading={loaded.loading} error={loaded.error} />;
  async function save() {
    setError(null);
    setSaved(null);
    const body: Obj = isNew ? { ...v } : { ...edits };
    for (const k of ['id', 'tenant_id', 'created_at', 'updated_at']) delete body[k];
    if (isNew && tenant_id()) body.tenant_id = tenant_id();
    if (body.modulation) body.modulation = Object.fromEntries(Object.entries(mod).filter(([, x]) => x !== '' && x !== null && x !== undefined));
    if (body.burst) body.burst = Object.fromEntries(Object.entries(burst).filter(([, x]) => x !== '' && x !== null && x !== undefined));
    const res = isNew
      ? await admin.POST('/admin/policies', { body: body as Schemas['PolicyIn'] })
      : await admin.PATCH('/admin/policies/{policy_id}', { params: { path: { policy_id: id } }, body: body as Schemas['PolicyPatch'] });
    if (res.error !== undefined || !res.data) return setError(errorText(res.error));
    setSaved('Saved');
    setEdits({});
    if (isNew) navigate(`/policies/${(res.data as { id: string }).id}`, { replace: true });
    else loaded.reload();
  }
  const num = (k: string, label: string, obj: Obj = v, setter: (k: string, x: unknown) => void = set) => (
    <NumberInput key={k} label={label} value={(obj[k] as number) ?? ''} onChange={(x) => setter(k, x === '' ? null : x)} min={0} />
  );
  return (
    <>
      <PageTitle right={<Button onClick={save}>Save</Button>}>{isNew ? 'New policy' : `Policy ${String(v.code)}`}</PageTitle>
      {error && (
        <Alert color="red" role="alert" mb="sm">
          {error}
        </Alert>
      )}
      {saved && (
        <Alert color="green" role="status" mb="sm">
          {saved}
        </Alert>
      )}
      <Stack>
        <Fieldset legend="Policy">
          <SimpleGrid cols={{ base: 1, sm: 2, md: 4 }}>
            <TextInput label="Code" value={String(v.code ?? '')} onChange={(e) => set('code', e.currentTarget.value)} disabled={!isNew} required />
            <TextInput label="Description" value={String(v.description ?? '')} onChange={(e) => set('description', e.currentTarget.value)} />
            <TextInput label="Address list" value={String(v.address_list ?? '')} onChange={(e) => set('address_list', e.currentTarget.value)} />
            <Checkbox mt="lg" label="Split credits" checked={!!v.split_credits} onChange={(e) => set('split_credits', e.currentTarget.checked)} />
            {NUMBER_FIELDS.map(([k, l]) => num(k, l))}
          </SimpleGrid>
        </Fieldset>
        <Fieldset legend="Burst (all six fields, or none)">
          <SimpleGrid cols={{ base: 1, sm: 3 }}>{BURST_FIELDS.map((k) => num(k, k.replace(/_/g, ' '), burst, setBurst))}</SimpleGrid>
        </Fieldset>
        <Fieldset legend="Dynamic modulation by traffic">
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            <SimpleGrid cols={{ base: 1, sm: 2 }}>
              <Select
                label="Algorithm"
                data={Object.keys(CURVES)}
                value={String(mod.algorithm)}
                onChange={(x) => setMod('algorithm', x)}
                allowDeselect={false}
              />
              <Select label="Period" data={['current_month', 'hours']} value={String(mod.period ?? 'current_month')} onChange={(x) => setMod('period', x)} allowDeselect={false} />
              <Select label="Traffic type" data={['total', 'separate', 'download', 'upload']} value={String(mod.traffic_type ?? 'total')} onChange={(x) => setMod('traffic_type', x)} allowDeselect={false} />
              {num('period_hours', 'Period hours', mod, setMod)}
              {num('activate_hour', 'Activate at hour', mod, setMod)}
              {num('deactivate_hour', 'Deactivate from hour', mod, setMod)}
              {num('max_total_mb', 'Max total MB', mod, setMod)}
              {num('max_download_mb', 'Max download MB', mod, setMod)}
              {num('max_upload_mb', 'Max upload MB', mod, setMod)}
              {num('min_download_rate', 'Min download rate (bit/s)', mod, setMod)}
              {num('min_upload_rate', 'Min upload rate (bit/s)', mod, setMod)}
              <Checkbox mt="lg" label="Ignore inactive traffic" checked={!!mod.ignore_inactive_traffic} onChange={(e) => setMod('ignore_inactive_traffic', e.currentTarget.checked)} />
            </SimpleGrid>
            <Paper withBorder p="sm" data-testid="modulation-curve">
              <Title order={3} size="h6" mb="xs">
                Download rate by traffic used (of the maximum)
              </Title>
              <LineChart h={240} data={curve} dataKey="used" series={[{ name: 'Download Mbit/s', color: 'indigo.6' }]} curveType="monotone" withDots={false} />
            </Paper>
          </SimpleGrid>
        </Fieldset>
        <Fieldset legend="Schedule, check and reply attributes (JSON)">
          <SimpleGrid cols={{ base: 1, md: 3 }}>
            {(['schedule', 'check_attributes', 'reply_attributes'] as const).map((k) => (
              <JsonField key={k} label={k.replace(/_/g, ' ')} value={v[k]} onChange={(x) => set(k, x)} />
            ))}
          </SimpleGrid>
        </Fieldset>
      </Stack>
    </>
  );
}

function JsonField({ label, value, onChange }: { label: string; value: unknown; onChange: (x: unknown) => void }) {
  const [text, setText] = useState(value === undefined || value === null ? '' : JSON.stringify(value, null, 1));
  const [bad, setBad] = useState<string | null>(null);
  return (
    <Textarea
      label={label}
      autosize
      minRows={3}
      value={text}
      error={bad}
      onChange={(e) => {
        const t = e.currentTarget.value;
        setText(t);
        try {
          onChange(t.trim() ? JSON.parse(t) : null);
          setBad(null);
        } catch {
          setBad('not valid JSON');
        }
      }}
    />
  );
}

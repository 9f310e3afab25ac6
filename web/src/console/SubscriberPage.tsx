import { BarChart } from '@mantine/charts';
import {
  Alert,
  Anchor,
  Button,
  Checkbox,
  CopyButton,
  Group,
  Menu,
  Modal,
  Paper,
  PasswordInput,
  Radio,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useState, type ReactNode } from 'react';
import { Link, useNavigate, useParams } from 'react-router-dom';
import { admin, download, ok, session, type Schemas, rowsOf } from '../api/client';
import { DataTable, Loading, PageTitle, RouterEffect, StatusBadge, useLoad, type Column } from '../ui/common';
import { bytes, money, when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';
import { SubscriberEquipment } from './SubscriberEquipment';

type Result = Schemas['ActionResult'];
type Conn = Schemas['ConnectionRow'];

const CONN_COLUMNS: Column<Conn>[] = [
  { key: 'connection_id', label: 'Connection ID' },
  { key: 'started_at', label: 'Start', render: (r) => when(r.started_at) },
  { key: 'ended_at', label: 'End', render: (r) => (r.open ? 'online' : when(r.ended_at)) },
  { key: 'duration', label: 'Duration' },
  { key: 'upload_bytes', label: 'Upload', align: 'right', render: (r) => bytes(r.upload_bytes) },
  { key: 'download_bytes', label: 'Download', align: 'right', render: (r) => bytes(r.download_bytes) },
  { key: 'ip', label: 'IP' },
  { key: 'mac', label: 'MAC' },
  { key: 'gateway_name', label: 'Gateway' },
  { key: 'nas_identifier', label: 'NAS-ID' },
  { key: 'gateway_mac', label: 'Gateway MAC' },
  { key: 'terminate_cause', label: 'Cause' },
];

function ConnectionLog({ id, wifi }: { id: string; wifi?: boolean }) {
  const log = usePagedList<Conn>(
    (cursor) =>
      wifi
        ? ok(admin.GET('/admin/subscribers/{subscriber_id}/wifi-connections', { params: { path: { subscriber_id: id }, query: { cursor } } }))
        : ok(admin.GET('/admin/subscribers/{subscriber_id}/connections', { params: { path: { subscriber_id: id }, query: { cursor } } })),
    [id, wifi],
  );
  const columns = wifi ? [...CONN_COLUMNS.slice(0, 9), { key: 'ssid', label: 'SSID' } as Column<Conn>, ...CONN_COLUMNS.slice(9)] : CONN_COLUMNS;
  return (
    <Stack>
      <Group justify="flex-end">
        {!wifi && (
          <Button size="xs" variant="default" onClick={() => download(`/admin/subscribers/${id}/connections/export`, 'connections.csv').catch((e: Error) => alert(e.message))}>
            Export CSV
          </Button>
        )}
      </Group>
      <Loading loading={log.loading && !log.rows} error={log.error} />
      <DataTable caption={wifi ? 'Wi-Fi connection log' : 'Connection log'} rows={log.rows} columns={columns} rowKey={(r) => r.session_id} empty="No connection yet" />
      <LoadMore list={log} what="connections" />
    </Stack>
  );
}

function Dashboard({ id }: { id: string }) {
  const dash = useLoad(() => ok(admin.GET('/admin/subscribers/{subscriber_id}/dashboard', { params: { path: { subscriber_id: id }, query: { days: 30 } } })), [id]);
  if (!dash.data) return <Loading loading={dash.loading} error={dash.error} />;
  const d = dash.data;
  const s = d.subscriber;
  const chart = d.traffic_per_day.map((t) => ({
    date: t.date.slice(5),
    'Download MB': +(t.download_bytes / 1048576).toFixed(2),
    'Upload MB': +(t.upload_bytes / 1048576).toFixed(2),
    'Time h': +(t.time_s / 3600).toFixed(2),
  }));
  const facts: [string, ReactNode][] = [
    ['Plan', d.product ? d.product.name : '—'],
    ['Connection', s.connection_type],
    ['IP', s.ip ?? '—'],
    ['MAC', s.mac ?? '—'],
    ['Online now', d.online ? `yes (${d.open_sessions} sessions)` : 'no'],
    ['Last connection', d.last_connection ? when(d.last_connection.started_at) : '—'],
    ['Phone', s.phone ?? '—'],
    ['E-mail', s.email ?? '—'],
    ['Balance', money(s.balance ?? '0', d.currency)],
    ['Created', when(s.created_at)],
  ];
  return (
    <Stack>
      <SimpleGrid cols={{ base: 1, md: 3 }}>
        <Paper withBorder p="md" style={{ gridColumn: 'span 2' }}>
          <Title order={3} size="h5" mb="xs">
            Traffic and time per day (30 days)
          </Title>
          <BarChart h={220} data={chart} dataKey="date" series={[{ name: 'Download MB', color: 'indigo.6' }, { name: 'Upload MB', color: 'teal.6' }]} tickLine="y" />
        </Paper>
        <Paper withBorder p="md">
          <Title order={3} size="h5" mb="xs">
            Context
          </Title>
          <Table aria-label="Context data">
            <Table.Tbody>
              {facts.map(([k, v]) => (
                <Table.Tr key={k}>
                  <Table.Th scope="row">{k}</Table.Th>
                  <Table.Td>{v}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Paper>
      </SimpleGrid>
      <Paper withBorder p="md">
        <Title order={3} size="h5" mb="xs">
          Sales to this subscriber
        </Title>
        <DataTable
          caption="Sales by product"
          rows={(d.sales.rows ?? []) as Record<string, unknown>[]}
          rowKey={(r) => String(r.product_id ?? r.product ?? r.name ?? JSON.stringify(r))}
          columns={Object.keys((d.sales.rows?.[0] ?? { product: '', total: '' }) as object).map((k) => ({ key: k, label: k.replace(/_/g, ' ') }))}
          empty="No sales yet"
        />
        {(d.sales.by_currency.length > 0 ? d.sales.by_currency : [{ currency: d.sales.currency ?? '', revenue: d.sales.revenue ?? '0', cost: d.sales.cost ?? '0' }]).map((t) => (
          <Text size="sm" mt="xs" key={t.currency} data-testid="sales-total">
            Revenue {t.revenue} {t.currency} · cost {t.cost} {t.currency}
          </Text>
        ))}
      </Paper>
    </Stack>
  );
}

type Dialog = null | 'cancel' | 'delete' | 'recharge' | 'username' | 'password' | 'autologin' | 'bind' | 'migrate' | 'send';

function ActionDialog({ kind, sub, onClose, onResult }: { kind: Exclude<Dialog, null>; sub: Schemas['SubscriberOut']; onClose: () => void; onResult: (r: Result) => void }) {
  const id = sub.id;
  const path = { params: { path: { subscriber_id: id } } };
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [v, setV] = useState<Record<string, string | boolean>>({ ip_action: 'release', cancel_pending_invoices: true, mode: 'system', random: true, make_static: true });
  const [info, setInfo] = useState<ReactNode>(null);
  const tenant_id = session.tenant();
  const products = useLoad(() => (kind === 'recharge' ? ok(admin.GET('/admin/products', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [kind]);
  const gateways = useLoad(() => (kind === 'migrate' ? ok(admin.GET('/admin/gateways', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [kind]);
  const zones = useLoad(() => (kind === 'migrate' ? ok(admin.GET('/admin/zones', { params: { query: { tenant_id } } })) : Promise.resolve(undefined)), [kind]);
  const arp = useLoad(
    () => (kind === 'bind' && sub.gateway_id ? ok(admin.GET('/admin/gateways/{gateway_id}/arp', { params: { path: { gateway_id: sub.gateway_id } } })) : Promise.resolve(undefined)),
    [kind],
  );
  const set = (k: string) => (x: string | boolean | null) => setV((o) => ({ ...o, [k]: x ?? '' }));
  async function run(p: Promise<{ data?: Result; error?: unknown; response: Response }>) {
    setBusy(true);
    setError(null);
    try {
      onResult(await ok(p));
      onClose();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  let title = '';
  let body: ReactNode = null;
  let submit: () => void = () => undefined;
  let danger = false;
  switch (kind) {
    case 'cancel':
      title = 'Cancel the service';
      danger = true;
      body = (
        <>
          <Checkbox label="Cancel all pending invoices" checked={!!v.cancel_pending_invoices} onChange={(e) => set('cancel_pending_invoices')(e.currentTarget.checked)} />
          <Radio.Group label="The IP address" value={String(v.ip_action)} onChange={set('ip_action')}>
            <Stack gap={4} mt={4}>
              <Radio value="release" label="Release the IP in the system and on the router" />
              <Radio value="keep_suspend" label="Keep the IP and suspend on the router" />
            </Stack>
          </Radio.Group>
        </>
      );
      submit = () =>
        run(admin.POST('/admin/subscribers/{subscriber_id}/cancel', { ...path, body: { cancel_pending_invoices: !!v.cancel_pending_invoices, ip_action: v.ip_action as 'none' | 'release' | 'keep_suspend' } }));
      break;
    case 'delete':
      title = 'Delete (for mistakes only, irreversible)';
      danger = true;
      body = (
        <>
          <Radio.Group label="Delete from" value={String(v.mode)} onChange={set('mode')}>
            <Stack gap={4} mt={4}>
              <Radio value="system" label="The system only" />
              <Radio value="system_router" label="The system and the router" />
            </Stack>
          </Radio.Group>
          {v.mode === 'system_router' && (
            <TextInput label="Type eliminar_clientes to confirm" value={String(v.confirm ?? '')} onChange={(e) => set('confirm')(e.currentTarget.value)} />
          )}
        </>
      );
      submit = () =>
        run(
          admin.POST('/admin/subscribers/{subscriber_id}/delete', {
            ...path,
            body: { mode: v.mode as 'system' | 'system_router', confirm: v.mode === 'system_router' ? String(v.confirm ?? '') : undefined },
          }),
        );
      break;
    case 'recharge':
      title = 'Recharge: assign a new plan (residual time and traffic are kept)';
      body = <Select label="Plan" data={rowsOf<Schemas['ProductOut']>(products.data).map((p) => ({ value: p.id, label: `${p.name} (${p.price})` }))} value={String(v.product_id ?? '') || null} onChange={set('product_id')} />;
      submit = () => run(admin.POST('/admin/subscribers/{subscriber_id}/recharge', { ...path, body: { product_id: String(v.product_id ?? '') } }));
      break;
    case 'username':
      title = 'Change the username (renamed on the router)';
      body = <TextInput label="New username" value={String(v.username ?? '')} onChange={(e) => set('username')(e.currentTarget.value)} />;
      submit = () => run(admin.POST('/admin/subscribers/{subscriber_id}/change-username', { ...path, body: { username: String(v.username ?? '') } }));
      break;
    case 'password':
      title = 'Change passwords';
      body = (
        <>
          <Checkbox label="Random network password" checked={!!v.random} onChange={(e) => set('random')(e.currentTarget.checked)} />
          {!v.random && <PasswordInput label="Network password" value={String(v.password ?? '')} onChange={(e) => set('password')(e.currentTarget.value)} />}
          <PasswordInput label="Portal password (optional)" value={String(v.portal_password ?? '')} onChange={(e) => set('portal_password')(e.currentTarget.value)} />
        </>
      );
      submit = () =>
        run(
          admin.POST('/admin/subscribers/{subscriber_id}/change-password', {
            ...path,
            body: { random: !!v.random, password: v.random ? undefined : String(v.password ?? ''), portal_password: v.portal_password ? String(v.portal_password) : undefined },
          }),
        );
      break;
    case 'migrate':
      title = 'Migrate to another router / zone';
      body = (
        <>
          <Select label="Router" data={rowsOf<Schemas['GatewayOut']>(gateways.data).map((g) => ({ value: g.id, label: g.name }))} value={String(v.gateway_id ?? '') || null} onChange={set('gateway_id')} />
          <Select label="Zone" data={rowsOf<Schemas['ZoneOut']>(zones.data).map((z) => ({ value: z.id, label: z.name }))} value={String(v.zone_id ?? '') || null} onChange={set('zone_id')} clearable />
        </>
      );
      submit = () =>
        run(admin.POST('/admin/subscribers/{subscriber_id}/migrate', { ...path, body: { gateway_id: String(v.gateway_id ?? ''), zone_id: v.zone_id ? String(v.zone_id) : undefined } }));
      break;
    case 'bind': {
      title = "IP/MAC binding from the router's ARP list";
      const entries = rowsOf(arp.data);
      body = (
        <>
          {!sub.gateway_id && <Alert color="yellow">No router is assigned to this subscriber.</Alert>}
          <Loading loading={arp.loading && !!sub.gateway_id} error={arp.error} />
          {entries.length > 0 && (
            <DataTable
              caption="ARP entries"
              rows={entries}
              rowKey={(r) => String(r['mac-address'] ?? r.mac ?? JSON.stringify(r))}
              columns={Object.keys(entries[0]).slice(0, 6).map((k) => ({ key: k, label: k, render: (r: Record<string, unknown>) => String(r[k] ?? '—') }))}
            />
          )}
          <Checkbox label="Import the MAC and interface from the router's ARP entry for the subscriber's IP" checked={v.from_arp !== false} onChange={(e) => set('from_arp')(e.currentTarget.checked)} />
          {v.from_arp === false && <TextInput label="MAC" value={String(v.mac ?? '')} onChange={(e) => set('mac')(e.currentTarget.value)} />}
          <Checkbox label="Make the ARP entry static" checked={!!v.make_static} onChange={(e) => set('make_static')(e.currentTarget.checked)} />
        </>
      );
      submit = () =>
        run(
          admin.POST('/admin/subscribers/{subscriber_id}/bind-ip-mac', {
            ...path,
            body: { from_arp: v.from_arp !== false, make_static: !!v.make_static, mac: v.from_arp === false ? String(v.mac ?? '') : undefined },
          }),
        );
      break;
    }
    case 'send':
      title = 'Send credentials';
      body = (
        <Select label="Send by" data={[{ value: '', label: 'As the domain settings say' }, { value: 'sms', label: 'SMS' }, { value: 'email', label: 'E-mail' }, { value: 'both', label: 'SMS and e-mail' }]} value={String(v.to ?? '')} onChange={set('to')} />
      );
      submit = async () => {
        setBusy(true);
        try {
          const r = await ok(admin.POST('/admin/subscribers/{subscriber_id}/credentials/send', { ...path, body: { channel: (v.to || undefined) as 'sms' | 'email' | 'both' | undefined } }));
          setInfo(<Alert color="green">Sent: {JSON.stringify(r.sent as unknown)}</Alert>);
        } catch (e) {
          setError((e as Error).message);
        } finally {
          setBusy(false);
        }
      };
      break;
    case 'autologin':
      title = 'Auto-login link to the customer portal (valid 6 months)';
      body = <Text size="sm">Anyone with this link is signed in to the portal as {sub.username}.</Text>;
      submit = async () => {
        setBusy(true);
        try {
          const r = await ok(admin.POST('/admin/subscribers/{subscriber_id}/autologin-link', path));
          setInfo(
            <Stack gap={4}>
              <TextInput label="Link" readOnly value={r.url} data-testid="autologin-url" />
              <CopyButton value={r.url}>{({ copied, copy }) => <Button size="xs" onClick={copy}>{copied ? 'Copied' : 'Copy link'}</Button>}</CopyButton>
              <Text size="xs">Valid until {new Date(r.expires_at * 1000).toLocaleDateString()}</Text>
            </Stack>,
          );
        } catch (e) {
          setError((e as Error).message);
        } finally {
          setBusy(false);
        }
      };
      break;
  }
  return (
    <Modal opened onClose={onClose} title={title} size="lg">
      <Stack>
        {body}
        {info}
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
        {!info && (
          <Button color={danger ? 'red' : undefined} loading={busy} onClick={submit}>
            Confirm
          </Button>
        )}
      </Stack>
    </Modal>
  );
}

export function SubscriberPage() {
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const sub = useLoad(() => ok(admin.GET('/admin/subscribers/{subscriber_id}', { params: { path: { subscriber_id: id } } })), [id]);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [busy, setBusy] = useState(false);
  const [tab, setTab] = useState<string | null>('dashboard');
  if (!sub.data) return <Loading loading={sub.loading} error={sub.error} />;
  const s = sub.data;
  const path = { params: { path: { subscriber_id: id } } };
  async function direct(action: 'activate' | 'suspend' | 'disconnect' | 'free') {
    setBusy(true);
    try {
      const r = await ok(admin.POST(`/admin/subscribers/{subscriber_id}/${action}`, { ...path, body: {} }));
      setResult(r);
      sub.reload();
    } catch (e) {
      setResult({ subscriber_id: id, action, ok: false, system: '', warnings: [], data: {}, error: { code: 'error', message: (e as Error).message } });
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <PageTitle
        right={
          <Group>
            <Button onClick={() => direct('activate')} loading={busy} variant="light" color="green">
              Activate
            </Button>
            <Button onClick={() => direct('suspend')} loading={busy} variant="light" color="red">
              Suspend
            </Button>
            <Menu position="bottom-end">
              <Menu.Target>
                <Button variant="default">More actions</Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item onClick={() => direct('disconnect')}>Disconnect</Menu.Item>
                <Menu.Item onClick={() => direct('free')}>Free status</Menu.Item>
                <Menu.Item onClick={() => setDialog('recharge')}>Recharge</Menu.Item>
                <Menu.Item onClick={() => setDialog('username')}>Change username</Menu.Item>
                <Menu.Item onClick={() => setDialog('password')}>Change password</Menu.Item>
                <Menu.Item onClick={() => setDialog('send')}>Send credentials</Menu.Item>
                <Menu.Item onClick={() => setDialog('autologin')}>Auto-login link</Menu.Item>
                <Menu.Item onClick={() => download(`/admin/subscribers/${id}/card.pdf`, `card-${s.username}.pdf`).catch((e: Error) => alert(e.message))}>Print card</Menu.Item>
                <Menu.Item onClick={() => setDialog('bind')}>IP/MAC binding</Menu.Item>
                <Menu.Item onClick={() => setDialog('migrate')}>Migrate</Menu.Item>
                <Menu.Divider />
                <Menu.Item color="red" onClick={() => setDialog('cancel')}>
                  Cancel service
                </Menu.Item>
                <Menu.Item color="red" onClick={() => setDialog('delete')}>
                  Delete
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        }
      >
        <Group gap="xs" component="span">
          <Anchor component={Link} to="/" size="sm">
            Subscribers
          </Anchor>
          <span aria-hidden>›</span> {s.username} <StatusBadge status={s.status} />
        </Group>
      </PageTitle>
      {result && (
        <div style={{ marginBottom: 12 }}>
          <RouterEffect result={result} />
          {result.action === 'delete' && result.ok && (
            <Button mt="xs" size="xs" onClick={() => navigate('/')}>
              Back to the list
            </Button>
          )}
        </div>
      )}
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List mb="md">
          <Tabs.Tab value="dashboard">Dashboard</Tabs.Tab>
          <Tabs.Tab value="equipment">Equipment</Tabs.Tab>
          <Tabs.Tab value="connections">Connection log</Tabs.Tab>
          <Tabs.Tab value="wifi">Wi-Fi log</Tabs.Tab>
          <Tabs.Tab value="audit">History</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="dashboard">
          <Dashboard id={id} key={String(result?.action)} />
        </Tabs.Panel>
        <Tabs.Panel value="equipment">
          <SubscriberEquipment sub={s} onSaved={sub.reload} />
        </Tabs.Panel>
        <Tabs.Panel value="connections">
          <ConnectionLog id={id} />
        </Tabs.Panel>
        <Tabs.Panel value="wifi">
          <ConnectionLog id={id} wifi />
        </Tabs.Panel>
        <Tabs.Panel value="audit">
          <SubscriberAudit id={id} />
        </Tabs.Panel>
      </Tabs>
      {dialog && (
        <ActionDialog
          kind={dialog}
          sub={s}
          onClose={() => setDialog(null)}
          onResult={(r) => {
            setResult(r);
            if (!(r.action === 'delete' && r.ok)) sub.reload();
          }}
        />
      )}
    </>
  );
}

function SubscriberAudit({ id }: { id: string }) {
  const log = usePagedList<Record<string, unknown>>((cursor) => ok(admin.GET('/admin/subscribers/{subscriber_id}/audit', { params: { path: { subscriber_id: id }, query: { cursor } } })), [id]);
  return (
    <>
      <Loading loading={log.loading && !log.rows} error={log.error} />
      <DataTable
        caption="History"
        rows={log.rows}
        rowKey={(r) => String(r.id ?? r.sk ?? JSON.stringify(r))}
        columns={[
          { key: 'at', label: 'When', render: (r) => when(String(r.at ?? r.created_at ?? '')) },
          { key: 'action', label: 'Action' },
          { key: 'actor_id', label: 'Who' },
          { key: 'after', label: 'Change', render: (r) => <code style={{ fontSize: 11 }}>{JSON.stringify(r.after ?? {})}</code> },
        ]}
      />
      <LoadMore list={log} what="entries" />
    </>
  );
}

import { Alert, Button, Checkbox, Group, Modal, NumberInput, Select, SimpleGrid, Stack, Text, TextInput } from '@mantine/core';
import { useDebouncedValue } from '@mantine/hooks';
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router-dom';
import { admin, download, errorText, ok, session, type Schemas } from '../api/client';
import { DataTable, Loading, PageTitle, StatusBadge, useLoad } from '../ui/common';
import { addAmounts, currencyDecimals, fitsCurrency, money, when } from '../ui/format';
import { LoadMore, usePagedList } from '../ui/paging';

const tenant_id = () => session.tenant();
type Obj = Record<string, unknown>;
type Invoice = Schemas['InvoiceOut'];
type Payment = Schemas['PaymentOut'];
type Run = Schemas['BillingRunOut'];
const s = (x: unknown) => (x === null || x === undefined || x === '' ? '—' : String(x));

export function Invoices() {
  const [status, setStatus] = useState<string | null>(null);
  const list = usePagedList<Invoice>(
    (cursor) => ok(admin.GET('/admin/invoices', { params: { query: { tenant_id: tenant_id(), status: (status ?? undefined) as 'pending' | 'partial' | 'paid' | 'cancelled' | undefined, cursor } } })),
    [status],
  );
  return (
    <>
      <PageTitle>Invoices</PageTitle>
      <Group mb="sm">
        <Select label="Status" data={[{ value: 'pending', label: 'Unpaid' }, { value: 'partial', label: 'Partly paid' }, { value: 'paid', label: 'Paid' }, { value: 'cancelled', label: 'Cancelled' }]} value={status} onChange={setStatus} clearable w={180} />
      </Group>
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable
        caption="Invoices"
        rows={list.rows}
        rowKey={(r) => r.id}
        rowProps={(r) => ({ 'data-invoice-id': r.id })}
        columns={[
          { key: 'number', label: 'Number' },
          { key: 'subscriber_id', label: 'Client', render: (r) => <Link to={`/subscribers/${r.subscriber_id}`}>{r.subscriber_name ?? r.subscriber_id}</Link> },
          { key: 'period', label: 'Period' },
          { key: 'issue_date', label: 'Issued' },
          { key: 'due_date', label: 'Due' },
          { key: 'total', label: 'Total', align: 'right', render: (r) => money(r.total, r.currency) },
          { key: 'paid', label: 'Paid', align: 'right', render: (r) => money(r.paid, r.currency) },
          { key: 'status', label: 'Status', render: (r) => <StatusBadge status={r.status} /> },
          {
            key: 'pdf',
            label: 'PDF',
            render: (r) => (
              <Button size="compact-xs" variant="default" onClick={() => download(`/admin/invoices/${r.path_id}/pdf`, `invoice-${s(r.number)}.pdf`).catch((e: Error) => alert(e.message))}>
                PDF
              </Button>
            ),
          },
        ]}
      />
      <LoadMore list={list} what="invoices" />
    </>
  );
}

type Client = Schemas['SubscriberRow'];
const clientLabel = (x: Client) => `${x.username}${x.name ? ` — ${x.name}` : ''}`;

function PaymentForm({ promise, onClose, onDone }: { promise?: boolean; onClose: () => void; onDone: () => void }) {
  const [v, setV] = useState<Obj>({ method: 'cash' });
  const [error, setError] = useState<string | null>(null);
  // the client is searched in the whole list (login, name, phone or IP), not picked among a first page
  const [client, setClient] = useState<Client | null>(null);
  const [search, setSearch] = useState('');
  const [q] = useDebouncedValue(client && search === clientLabel(client) ? '' : search.trim(), 300);
  const subs = useLoad(() => ok(admin.GET('/admin/subscribers', { params: { query: { q: q || undefined, limit: 50, tenant_id: tenant_id() } } })), [q]);
  const found = (subs.data?.items ?? []).filter((x) => x.id !== client?.id);
  const currency = client?.currency; // the client's tenant's
  const decimals = currencyDecimals(currency);
  const amount = String(v.amount ?? '');
  function pick(id: string | null) {
    const next = id === null ? null : id === client?.id ? client : (subs.data?.items.find((x) => x.id === id) ?? null);
    setClient(next);
    // an amount with more decimals than the new client's currency has is entered again
    if (next && !fitsCurrency(amount, next.currency)) setV((o) => ({ ...o, amount: '' }));
  }
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!promise && !fitsCurrency(amount, currency)) return setError(`Amounts in ${currency ?? 'this currency'} have ${decimals} decimals at most`);
    const subscriber_id = client?.id ?? '';
    const res = promise
      ? await admin.POST('/admin/subscribers/{subscriber_id}/payment-promise', {
          params: { path: { subscriber_id } },
          body: { until: String(v.until ?? ''), activate: true },
        })
      : await admin.POST('/admin/payments', {
          body: { subscriber_id, amount, method: String(v.method), reference: (v.reference as string) || undefined, activate: true },
          headers: { 'Idempotency-Key': crypto.randomUUID() },
        });
    if (res.error !== undefined) return setError(errorText(res.error));
    onDone();
    onClose();
  }
  return (
    <Modal opened onClose={onClose} title={promise ? 'Payment promise' : 'Register a payment'}>
      <form onSubmit={submit}>
        <Stack gap="xs">
          <Select
            label="Client"
            description="Type a login, name, phone or IP"
            searchable
            required
            searchValue={search}
            onSearchChange={setSearch}
            filter={({ options }) => options} // the API searched already
            nothingFoundMessage={subs.loading ? 'Searching…' : 'No client matches'}
            data={[...(client ? [client] : []), ...found].map((x) => ({ value: x.id, label: clientLabel(x) }))}
            value={client?.id ?? null}
            onChange={pick}
          />
          {promise ? (
            <TextInput label="No cutoff until (YYYY-MM-DD)" required value={String(v.until ?? '')} onChange={(e) => setV((o) => ({ ...o, until: e.currentTarget.value }))} />
          ) : (
            <SimpleGrid cols={2}>
              <NumberInput
                label={currency ? `Amount (${currency})` : 'Amount'}
                required
                min={0}
                decimalScale={decimals}
                allowDecimal={decimals > 0}
                value={amount}
                onChange={(x) => setV((o) => ({ ...o, amount: String(x) }))}
              />
              <Select label="Method" data={['cash', 'transfer', 'card', 'deposit']} value={String(v.method)} onChange={(x) => setV((o) => ({ ...o, method: x ?? 'cash' }))} />
              <TextInput label="Reference" value={String(v.reference ?? '')} onChange={(e) => setV((o) => ({ ...o, reference: e.currentTarget.value }))} />
            </SimpleGrid>
          )}
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Button type="submit">Save</Button>
        </Stack>
      </form>
    </Modal>
  );
}

function ReverseForm({ payment, onClose, onDone }: { payment: Payment; onClose: () => void; onDone: () => void }) {
  const [amount, setAmount] = useState<string | number>('');
  const [reason, setReason] = useState('');
  const [reopen, setReopen] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [key] = useState(() => crypto.randomUUID()); // one key per form: a double click reverses once
  const currency = payment.currency;
  const left = addAmounts([payment.amount, `-${payment.reversed_amount}`]);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const res = await admin.POST('/admin/payments/{payment_id}/reverse', {
      params: { path: { payment_id: payment.id } },
      body: { amount: amount === '' ? undefined : String(amount), reason, reopen_invoices: reopen },
      headers: { 'Idempotency-Key': key },
    });
    if (res.error !== undefined) return setError(errorText(res.error));
    onDone();
    onClose();
  }
  return (
    <Modal opened onClose={onClose} title="Reverse a payment">
      <form onSubmit={submit} aria-label="Reverse a payment">
        <Stack gap="xs">
          <Text size="sm">
            Payment {s(payment.reference ?? payment.id)} of {money(payment.amount, currency)}. In {currency}, {left} can still be taken back.
          </Text>
          <NumberInput
            label="Amount to take back (empty: all that is left)"
            description={`in ${currency}`}
            min={0}
            decimalScale={currencyDecimals(currency)}
            allowDecimal={currencyDecimals(currency) > 0}
            value={amount}
            onChange={setAmount}
          />
          <TextInput label="Reason" required value={reason} onChange={(e) => setReason(e.currentTarget.value)} />
          <Checkbox label="Re-open the invoices it paid" checked={reopen} onChange={(e) => setReopen(e.currentTarget.checked)} />
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Button type="submit" color="red">
            Reverse
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}

export function Payments() {
  const list = usePagedList<Payment>((cursor) => ok(admin.GET('/admin/payments', { params: { query: { tenant_id: tenant_id(), cursor } } })), []);
  const [form, setForm] = useState<null | 'payment' | 'promise'>(null);
  const [reversing, setReversing] = useState<Payment | null>(null);
  return (
    <>
      <PageTitle
        right={
          <Group>
            <Button variant="default" onClick={() => setForm('promise')}>
              Payment promise
            </Button>
            <Button onClick={() => setForm('payment')}>Register payment</Button>
          </Group>
        }
      >
        Payments
      </PageTitle>
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable
        caption="Payments and promises"
        rows={list.rows}
        rowKey={(r) => r.id}
        columns={[
          { key: 'paid_on', label: 'Date', render: (r) => s(r.effects.paid_on ?? r.created_at) },
          { key: 'subscriber_id', label: 'Client', render: (r) => <Link to={`/subscribers/${r.subscriber_id}`}>{r.subscriber_id}</Link> },
          { key: 'kind', label: 'Kind' },
          { key: 'amount', label: 'Amount', align: 'right', render: (r) => money(r.amount, r.currency) },
          { key: 'method', label: 'Method' },
          { key: 'reference', label: 'Reference' },
          { key: 'reversed_amount', label: 'Reversed', align: 'right', render: (r) => (Number(r.reversed_amount) > 0 ? money(r.reversed_amount, r.currency) : '—') },
          { key: 'status', label: 'Status' },
          {
            key: 'reverse',
            label: 'Reverse',
            render: (r) =>
              r.kind === 'payment' && r.status !== 'reversed' ? (
                <Button size="compact-xs" variant="default" color="red" aria-label={`Reverse payment ${s(r.reference ?? r.id)}`} onClick={() => setReversing(r)}>
                  Reverse
                </Button>
              ) : null,
          },
        ]}
      />
      <LoadMore list={list} what="payments" />
      {reversing && <ReverseForm payment={reversing} onClose={() => setReversing(null)} onDone={list.reload} />}
      {form && <PaymentForm promise={form === 'promise'} onClose={() => setForm(null)} onDone={list.reload} />}
    </>
  );
}

export function Runs() {
  const list = usePagedList<Run>((cursor) => ok(admin.GET('/admin/billing/runs', { params: { query: { tenant_id: tenant_id(), cursor } } })), []);
  const [kind, setKind] = useState<string | null>('invoices');
  const [msg, setMsg] = useState<string | null>(null);
  async function run() {
    const res = await admin.POST('/admin/billing/runs', { body: { kind: kind as 'invoices', tenant_id: tenant_id() } });
    setMsg(res.error !== undefined ? errorText(res.error) : 'Run finished');
    list.reload();
  }
  return (
    <>
      <PageTitle
        right={
          <Group align="end">
            <Select aria-label="Run kind" data={['invoices', 'notices', 'cutoff', 'promise_expiry']} value={kind} onChange={setKind} allowDeselect={false} w={170} />
            <Button onClick={run}>Run now</Button>
          </Group>
        }
      >
        Billing runs
      </PageTitle>
      {msg && (
        <Alert mb="sm" role="status">
          {msg}
        </Alert>
      )}
      <Loading loading={list.loading && !list.rows} error={list.error} />
      <DataTable
        caption="Billing runs"
        rows={list.rows}
        rowKey={(r) => r.id}
        columns={[
          { key: 'id', label: 'Run', render: (r) => <Link to={`/runs/${r.id}`}>{r.id}</Link> },
          { key: 'kind', label: 'Kind' },
          { key: 'status', label: 'Status' },
          { key: 'created_at', label: 'Started', render: (r) => when(r.created_at) },
          { key: 'summary', label: 'Summary', render: (r) => <code style={{ fontSize: 11 }}>{JSON.stringify(runCounts(r))}</code> },
        ]}
      />
      <LoadMore list={list} what="runs" />
    </>
  );
}

/** What a run counted (its result without the per-router detail). */
function runCounts(run: Run): Obj {
  return Object.fromEntries(Object.entries(run.result).filter(([, v]) => v === null || typeof v !== 'object'));
}

export function RunDetail() {
  const { id = '' } = useParams();
  const run = useLoad(() => ok(admin.GET('/admin/billing/runs/{run_id}', { params: { path: { run_id: id } } })), [id]);
  const [msg, setMsg] = useState<string | null>(null);
  if (!run.data) return <Loading loading={run.loading} error={run.error} />;
  const d = run.data as Obj;
  async function rerun(gateway_id?: string) {
    const res = await admin.POST('/admin/billing/runs/{run_id}/rerun', { params: { path: { run_id: id } }, body: { gateway_id, only_failed: !gateway_id } });
    setMsg(res.error !== undefined ? errorText(res.error) : 'Re-run queued');
    run.reload();
  }
  // the cutoff's per-router log: each router's task, its outcome now, and a re-run of that router
  const result = (d.result ?? {}) as Obj;
  const logs = (Array.isArray(result.routers) ? result.routers : []) as Obj[];
  return (
    <>
      <PageTitle right={<Button onClick={() => rerun()}>Re-run failed router tasks</Button>}>Run {id}</PageTitle>
      {msg && <Alert mb="sm">{msg}</Alert>}
      <Text size="sm" mb="sm">
        {s(d.kind)} · {s(d.status)} · {s(d.created_at)}
      </Text>
      <Text size="sm" mb="sm" data-testid="run-counts">
        {Object.entries(result)
          .filter(([, v]) => v === null || typeof v !== 'object')
          .map(([k, v]) => `${k}: ${s(v)}`)
          .join(' · ')}
      </Text>
      {logs.length > 0 && (
        <DataTable
          caption="Per-router log"
          rows={logs}
          rowKey={(r) => s(r.gateway_id)}
          columns={[
            { key: 'gateway_id', label: 'Router' },
            { key: 'subscribers', label: 'Clients', render: (r) => (Array.isArray(r.subscribers) ? r.subscribers.length : '') },
            { key: 'outcome', label: 'Outcome' },
            { key: 'last_error', label: 'Error' },
            { key: 'rerun', label: 'Re-run', render: (r) => <Button size="compact-xs" onClick={() => rerun(s(r.gateway_id))}>Re-run</Button> },
          ]}
        />
      )}
    </>
  );
}

export function SalesReport() {
  const [groupBy, setGroupBy] = useState<string | null>('product');
  const rep = useLoad(() => ok(admin.GET('/admin/reports/sales', { params: { query: { tenant_id: tenant_id(), group_by: groupBy as 'product' } } })), [groupBy]);
  const totals = rep.data?.by_currency ?? [];
  return (
    <>
      <PageTitle right={<Select aria-label="Group by" data={['product', 'manager']} value={groupBy} onChange={setGroupBy} allowDeselect={false} />}>Sales report</PageTitle>
      <Loading loading={rep.loading && !rep.data} error={rep.error} />
      {totals.length > 1 && (
        <Alert color="blue" mb="sm" data-testid="sales-currencies">
          These sales are in {totals.length} currencies ({totals.map((t) => t.currency).join(', ')}): each row and each total is in its own currency, never added to another.
        </Alert>
      )}
      <DataTable
        caption="Sales"
        rows={rep.data?.rows}
        rowKey={(r) => `${r.key}|${r.currency}`}
        columns={[
          { key: 'name', label: groupBy === 'manager' ? 'Manager' : 'Product' },
          { key: 'currency', label: 'Currency' },
          { key: 'lines', label: 'Lines', align: 'right' },
          { key: 'invoices', label: 'Invoices', align: 'right' },
          { key: 'invoiced', label: 'Invoiced', align: 'right' },
          { key: 'collected', label: 'Collected', align: 'right' },
        ]}
      />
      {totals.length > 0 && (
        <DataTable
          caption="Sales totals per currency"
          rows={totals}
          rowKey={(t) => t.currency}
          columns={[
            { key: 'currency', label: 'Currency' },
            { key: 'lines', label: 'Lines', align: 'right' },
            { key: 'invoices', label: 'Invoices', align: 'right' },
            { key: 'invoiced', label: 'Invoiced', align: 'right' },
            { key: 'collected', label: 'Collected', align: 'right' },
          ]}
        />
      )}
    </>
  );
}

import { Alert, Anchor, Badge, Button, Card, Group, Loader, Stack, Table, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router-dom';
import { download, errorText, ok, portal, type Schemas } from '../api/client';
import { Loading, useLoad } from '../ui/common';
import { LoadMore, usePagedList } from '../ui/paging';

const UNPAID = ['unpaid', 'partial', 'overdue', 'pending', 'issued'];

export function Invoices() {
  const list = usePagedList<Schemas['PortalInvoicePage']['items'][number]>((next_token) => ok(portal.GET('/portal/invoices', { params: { query: { limit: 50, next_token } } })), []);
  if (!list.rows) return <Loading loading={list.loading} error={list.error} />;
  return (
    <Stack>
      <Title order={1} size="h3">
        My invoices
      </Title>
      {list.rows.length === 0 && <Text>No invoice yet.</Text>}
      {list.rows.map((i) => (
        <Card withBorder key={i.id} component={Link} to={`/my/invoices/${i.id}`} data-testid="portal-invoice">
          <Group justify="space-between">
            <div>
              <Text fw={700}>Invoice {i.number ?? i.id}</Text>
              <Text size="sm">
                {i.period ?? i.issue_date} · due {i.due_date ?? '—'}
              </Text>
            </div>
            <div style={{ textAlign: 'right' }}>
              <Text fw={700}>
                {i.total} {i.currency}
              </Text>
              <Badge color={UNPAID.includes(i.status) ? 'red' : 'green'}>{i.status}</Badge>
            </div>
          </Group>
        </Card>
      ))}
      <LoadMore list={list} what="invoices" />
    </Stack>
  );
}

export function InvoiceDetail() {
  const { id = '' } = useParams();
  const inv = useLoad(() => ok(portal.GET('/portal/invoices/{invoice_id}', { params: { path: { invoice_id: id } } })), [id]);
  const [checkout, setCheckout] = useState<Schemas['PortalCheckoutOut'] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!inv.data) return <Loading loading={inv.loading} error={inv.error} />;
  const i = inv.data;
  const lines = (i.lines ?? []) as { description?: string; name?: string; quantity?: string | number; amount?: string; total?: string }[];
  async function pay() {
    setBusy(true);
    setError(null);
    const { data, error: err } = await portal.POST('/portal/invoices/{invoice_id}/checkout', { params: { path: { invoice_id: id } }, body: {} });
    setBusy(false);
    if (!data) return setError(errorText(err));
    setCheckout(data);
  }
  const owed = Number(i.due) > 0 && UNPAID.includes(i.status);
  return (
    <Stack>
      <Anchor component={Link} to="/my/invoices" size="sm">
        ‹ My invoices
      </Anchor>
      <Card withBorder>
        <Group justify="space-between">
          <Title order={1} size="h3">
            Invoice {i.number ?? i.id}
          </Title>
          <Badge color={owed ? 'red' : 'green'}>{i.status}</Badge>
        </Group>
        <Text size="sm">
          Issued {i.issue_date} · due {i.due_date ?? '—'} {i.cutoff_date ? `· service cut off on ${i.cutoff_date}` : ''}
        </Text>
        <Table mt="sm" aria-label="Invoice lines">
          <Table.Tbody>
            {lines.map((l, n) => (
              <Table.Tr key={n}>
                <Table.Td>{l.description ?? l.name ?? 'Line'}</Table.Td>
                <Table.Td style={{ textAlign: 'right' }}>{l.total ?? l.amount}</Table.Td>
              </Table.Tr>
            ))}
            <Table.Tr>
              <Table.Th scope="row">Subtotal</Table.Th>
              <Table.Td style={{ textAlign: 'right' }}>{i.subtotal}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Tax</Table.Th>
              <Table.Td style={{ textAlign: 'right' }}>{i.tax}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Total</Table.Th>
              <Table.Td style={{ textAlign: 'right' }}>
                {i.total} {i.currency}
              </Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Amount due</Table.Th>
              <Table.Td style={{ textAlign: 'right' }} data-testid="invoice-due">
                {i.due} {i.currency}
              </Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
        <Group mt="md">
          <Button variant="default" onClick={() => download(`/portal/invoices/${id}/pdf`, `invoice-${i.number ?? id}.pdf`, 'portal').catch((e: Error) => setError(e.message))}>
            Download PDF
          </Button>
          {owed && !checkout && (
            <Button onClick={pay} loading={busy}>
              Pay {i.due} {i.currency} online
            </Button>
          )}
        </Group>
        {error && (
          <Alert color="red" mt="sm" role="alert">
            {error}
          </Alert>
        )}
        {checkout && (
          <Alert color="indigo" mt="sm" title="Payment step" data-testid="checkout">
            <Text size="sm" mb="xs">
              You are paying on the provider&apos;s secure page ({checkout.provider}).
            </Text>
            <Button component="a" href={checkout.url}>
              Continue to payment
            </Button>
          </Alert>
        )}
      </Card>
    </Stack>
  );
}

/** Where the payment provider sends the customer back: the checkout's status, until it is settled. */
export function Checkout() {
  const { ref = '' } = useParams();
  const [status, setStatus] = useState<Schemas['PortalCheckoutStatusOut'] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stop = false;
    let n = 0;
    const poll = async () => {
      const { data, error: err } = await portal.GET('/portal/payments/checkouts/{checkout_id}', { params: { path: { checkout_id: ref } } });
      if (stop) return;
      if (!data) return setError(errorText(err));
      setStatus(data);
      if (['open', 'pending'].includes(data.status ?? '') && n++ < 60) setTimeout(poll, 3000);
    };
    poll();
    return () => {
      stop = true;
    };
  }, [ref]);
  if (error)
    return (
      <Alert color="red" role="alert" mt="md">
        {error}
      </Alert>
    );
  if (!status) return <Loader role="status" aria-label="Checking the payment" />;
  return (
    <Card withBorder mt="md">
      <Title order={1} size="h3">
        Payment {status.status}
      </Title>
      <Text>
        {status.amount} {status.currency}
        {status.paid_at ? ` · paid ${status.paid_at}` : ''}
      </Text>
      <Anchor component={Link} to="/my/invoices">
        My invoices
      </Anchor>
    </Card>
  );
}

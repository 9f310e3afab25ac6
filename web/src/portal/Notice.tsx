import { Alert, Button, Card, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { ok, portal, session } from '../api/client';
import { Loading, useLoad } from '../ui/common';
import { amountsByCurrency } from '../ui/format';
import { SignInForm } from './SignIn';

const UNPAID = ['unpaid', 'partial', 'overdue', 'pending', 'issued'];

/** Where the router sends a suspended customer's browser: why, how much is owed, and a way to pay. */
export function Notice() {
  const [params] = useSearchParams();
  const [signedIn, setSignedIn] = useState(() => session.portal() !== null);
  return (
    <Stack mt="md">
      <Alert color="red" title="Your internet service is suspended" role="alert">
        The service is suspended for an unpaid balance. Pay the amount due and it is restored automatically.
      </Alert>
      {signedIn ? <Due /> : <SignInForm tenant={params.get('t') ?? undefined} title="Sign in to see the amount due" onDone={() => setSignedIn(true)} />}
    </Stack>
  );
}

function Due() {
  const inv = useLoad(() => ok(portal.GET('/portal/invoices', { params: { query: { limit: 50 } } })), []);
  if (!inv.data) return <Loading loading={inv.loading} error={inv.error} />;
  const open = inv.data.items.filter((i) => UNPAID.includes(i.status) && Number(i.due) > 0);
  // what is owed in each currency: amounts of different currencies are never added together
  const owed = amountsByCurrency(open.map((i) => ({ amount: i.due, currency: i.currency })));
  const oldest = [...open].sort((a, b) => a.issue_date.localeCompare(b.issue_date))[0];
  return (
    <Card withBorder>
      <Title order={1} size="h3">
        Amount due
      </Title>
      <Text size="xl" fw={800} data-testid="notice-due" component="div">
        {owed.length > 0 ? owed.map(([currency, amount]) => <div key={currency}>{`${amount} ${currency}`}</div>) : '0'}
      </Text>
      <Text size="sm">{open.length} unpaid invoice(s)</Text>
      {oldest ? (
        <Button mt="md" component={Link} to={`/my/invoices/${oldest.id}`} size="md">
          Pay now
        </Button>
      ) : (
        <Text mt="md">Nothing is owed: the service is restored in a few minutes.</Text>
      )}
    </Card>
  );
}

import { Alert, Button, Card, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { ok, portal, session } from '../api/client';
import { Loading, useLoad } from '../ui/common';
import { SignInForm } from './SignIn';

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
  // what is owed over every unpaid invoice, added up by the API (the invoice list shows a page at a time)
  const due = useLoad(() => ok(portal.GET('/portal/amount-due')), []);
  if (!due.data) return <Loading loading={due.loading} error={due.error} />;
  const d = due.data;
  // amounts of different currencies are never added together: one line per currency
  const owed = d.by_currency.length > 0 ? d.by_currency : [{ currency: d.currency ?? '', amount: d.amount ?? '0' }];
  const first = d.oldest_invoice;
  return (
    <Card withBorder>
      <Title order={1} size="h3">
        Amount due
      </Title>
      <Text size="xl" fw={800} data-testid="notice-due" component="div">
        {owed.map((o) => (
          <div key={o.currency}>{`${o.amount} ${o.currency}`.trim()}</div>
        ))}
      </Text>
      <Text size="sm">{d.invoices} unpaid invoice(s)</Text>
      {first ? (
        <Button mt="md" component={Link} to={`/my/invoices/${first.path_id}`} size="md">
          Pay now
        </Button>
      ) : (
        <Text mt="md">Nothing is owed: the service is restored in a few minutes.</Text>
      )}
    </Card>
  );
}

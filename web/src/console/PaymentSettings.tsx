import { Alert, Badge, Button, Card, Checkbox, Code, Group, PasswordInput, Select, Stack, Switch, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { admin, errorText, ok, session } from '../api/client';
import type { Schemas } from '../api/client';
import { Loading, PageTitle, useLoad } from '../ui/common';
import { when } from '../ui/format';

type Settings = Schemas['PortalPaymentSettingsOut'];
type Account = Schemas['PaymentAccountOut'];
type Check = Schemas['PaymentAccountCheckOut'];

const tenant_id = () => session.tenant();
const PROVIDERS = [
  { value: 'hosted', label: 'Hosted checkout page (a link of your own)' },
  { value: 'stripe', label: 'Stripe' },
  { value: 'mercadopago', label: 'Mercado Pago' },
];
const NAMES: Record<string, string> = { stripe: 'Stripe', mercadopago: 'Mercado Pago' };

/** Online payments: enable them, choose the default provider, connect Stripe / Mercado Pago (write-only keys) and test the connection. */
export function PaymentSettings() {
  const settings = useLoad(() => ok(admin.GET('/admin/payment-settings', { params: { query: { tenant_id: tenant_id() } } })), []);
  const [enabled, setEnabled] = useState(false);
  const [provider, setProvider] = useState<string | null>('hosted');
  const [checkoutUrl, setCheckoutUrl] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    const s = settings.data as Settings | undefined;
    if (!s) return;
    setEnabled(s.enabled);
    setProvider(s.provider);
    setCheckoutUrl(s.checkout_url ?? '');
  }, [settings.data]);

  async function save() {
    setError(null);
    setSaved(false);
    const res = await admin.PUT('/admin/payment-settings', {
      body: { tenant_id: tenant_id(), enabled, provider: provider ?? 'hosted', checkout_url: checkoutUrl || undefined },
    });
    if (res.error !== undefined) return setError(errorText(res.error));
    setSaved(true);
    settings.reload();
  }

  const s = settings.data as Settings | undefined;
  return (
    <>
      <PageTitle>Online payments</PageTitle>
      <Loading loading={settings.loading && !s} error={settings.error} />
      {s && (
        <Stack gap="md">
          <Card withBorder>
            <Stack gap="xs">
              <Switch label="Subscribers can pay their invoices online" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
              <Select label="Default provider" data={PROVIDERS} value={provider} onChange={setProvider} allowDeselect={false} w={360} />
              {provider === 'hosted' && <TextInput label="Checkout page (https://…)" value={checkoutUrl} onChange={(e) => setCheckoutUrl(e.currentTarget.value)} w={480} />}
              <Group>
                <Button onClick={save}>Save</Button>
                {saved && <Text c="green" size="sm" role="status">Saved</Text>}
              </Group>
              {error && (
                <Alert color="red" role="alert" title="Not saved">
                  {error}
                </Alert>
              )}
            </Stack>
          </Card>
          {['stripe', 'mercadopago'].map((p) => (
            <AccountCard key={p} provider={p} account={(s.accounts ?? []).find((a) => a.provider === p)} onChange={settings.reload} />
          ))}
        </Stack>
      )}
    </>
  );
}

function AccountCard({ provider, account, onChange }: { provider: string; account: Account | undefined; onChange: () => void }) {
  const name = NAMES[provider];
  const [mode, setMode] = useState<string | null>(account?.mode ?? 'test');
  const [apiKey, setApiKey] = useState('');
  const [secret, setSecret] = useState('');
  const [offer, setOffer] = useState(account?.enabled ?? true);
  const [error, setError] = useState<string | null>(null);
  const [check, setCheck] = useState<Check | null>(null);
  const [busy, setBusy] = useState(false);
  const path = { params: { path: { provider } } };

  async function connect() {
    setError(null);
    const res = await admin.PUT('/admin/payment-settings/accounts/{provider}', {
      ...path,
      body: { tenant_id: session.tenant(), mode: mode ?? 'test', api_key: apiKey || undefined, webhook_secret: secret || undefined, enabled: offer },
    });
    if (res.error !== undefined) return setError(errorText(res.error));
    setApiKey('');
    setSecret('');
    onChange();
  }
  async function test() {
    setError(null);
    setBusy(true);
    try {
      setCheck(await ok(admin.POST('/admin/payment-settings/accounts/{provider}/test', { ...path, body: { tenant_id: session.tenant() } })));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }
  async function disconnect() {
    const res = await admin.DELETE('/admin/payment-settings/accounts/{provider}', { ...path, params: { ...path.params, query: { tenant_id: session.tenant() } } });
    if (res.error !== undefined) return setError(errorText(res.error));
    setCheck(null);
    onChange();
  }

  return (
    <Card withBorder aria-label={`${name} account`} role="region">
      <Stack gap="xs">
        <Group>
          <Title order={4}>{name}</Title>
          {account?.configured ? <Badge color="green">connected · {account.mode} · key {account.key_hint}</Badge> : <Badge color="gray">not connected</Badge>}
          {account?.configured && !account.webhook_secret_set && <Badge color="orange">no webhook secret</Badge>}
        </Group>
        <Text size="sm">
          Webhook URL for the {name} dashboard: <Code data-testid={`${provider}-webhook-url`}>{account?.webhook_url ?? '—'}</Code>
        </Text>
        {account?.updated_at && <Text size="xs" c="dimmed">Changed {when(account.updated_at)}</Text>}
        <Group align="end">
          <Select label="Mode" data={[{ value: 'test', label: 'Test' }, { value: 'live', label: 'Live' }]} value={mode} onChange={setMode} allowDeselect={false} w={120} />
          <PasswordInput label={provider === 'stripe' ? 'Secret key' : 'Access token'} placeholder={account?.configured ? 'unchanged' : ''} value={apiKey} onChange={(e) => setApiKey(e.currentTarget.value)} w={300} />
          <PasswordInput label="Webhook signing secret" placeholder={account?.webhook_secret_set ? 'unchanged' : ''} value={secret} onChange={(e) => setSecret(e.currentTarget.value)} w={260} />
          <Checkbox label="Offer to subscribers" checked={offer} onChange={(e) => setOffer(e.currentTarget.checked)} />
        </Group>
        <Group>
          <Button onClick={connect}>{account?.configured ? `Save ${name}` : `Connect ${name}`}</Button>
          {account?.configured && (
            <>
              <Button variant="light" loading={busy} onClick={test}>
                Test connection
              </Button>
              <Button variant="light" color="red" onClick={disconnect}>
                Disconnect
              </Button>
            </>
          )}
        </Group>
        {check && (
          <Alert color={check.ok ? 'green' : 'red'} title={check.ok ? 'Connection works' : 'Connection failed'}>
            {check.detail} ({check.mode}, {when(check.checked_at)})
          </Alert>
        )}
        {error && (
          <Alert color="red" role="alert" title={`${name} not saved`}>
            {error}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}

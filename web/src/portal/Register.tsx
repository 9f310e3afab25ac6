import { Alert, Button, Card, PasswordInput, Select, Stack, Text, TextInput, Title } from '@mantine/core';
import { useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { errorText, ok, portal, type Schemas } from '../api/client';
import { Loading, useLoad } from '../ui/common';

/** Self-registration on a network (/my/register?g=<gateway>): details, the code sent by SMS/e-mail, the account. */
export function Register() {
  const [params] = useSearchParams();
  const gateway_id = params.get('g') ?? '';
  const opts = useLoad(() => ok(portal.GET('/portal/register/options', { params: { query: { gateway_id } } })), [gateway_id]);
  const [step, setStep] = useState<'details' | 'code' | 'account' | 'done'>('details');
  const [v, setV] = useState<Record<string, string>>({});
  const [start, setStart] = useState<Schemas['StartOut'] | null>(null);
  const [token, setToken] = useState('');
  const [done, setDone] = useState<Schemas['CompleteOut'] | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!gateway_id) return <Alert mt="md">Open this page from your provider&apos;s network sign-up link.</Alert>;
  if (!opts.data) return <Loading loading={opts.loading} error={opts.error} />;
  const o = opts.data;
  const field = (k: string, label: string, type = 'text') =>
    (o.fields as string[]).includes(k) || (o.required as string[]).includes(k) ? (
      <TextInput key={k} label={label} type={type} required={(o.required as string[]).includes(k)} value={v[k] ?? ''} onChange={(e) => setV((x) => ({ ...x, [k]: e.currentTarget.value }))} />
    ) : null;
  async function go<T>(p: Promise<{ data?: T; error?: unknown }>, next: (d: T) => void) {
    setError(null);
    const { data, error: err } = await p;
    if (!data) return setError(errorText(err));
    next(data);
  }
  return (
    <Card withBorder mt="md">
      <Stack>
        <Title order={1} size="h3">
          Sign up with {o.company}
        </Title>
        {step === 'details' && (
          <>
            {field('name', 'Name')}
            {field('phone', 'Phone', 'tel')}
            {field('email', 'E-mail', 'email')}
            <Button
              onClick={() =>
                go(portal.POST('/portal/register/start', { body: { gateway_id, name: v.name, phone: v.phone, email: v.email } }), (d) => {
                  setStart(d);
                  if (d.registration_token) {
                    setToken(d.registration_token);
                    setStep('account');
                  } else if (d.status === 'created') {
                    setStep('done');
                  } else setStep('code');
                })
              }
            >
              Continue
            </Button>
          </>
        )}
        {step === 'code' && start && (
          <>
            <Text size="sm">
              We sent a code by {start.channel} to {start.sent_to}.
            </Text>
            <TextInput label="Code" inputMode="numeric" autoComplete="one-time-code" value={v.code ?? ''} onChange={(e) => setV((x) => ({ ...x, code: e.currentTarget.value }))} />
            <Button
              onClick={() =>
                go(portal.POST('/portal/register/verify', { body: { registration_id: start.registration_id ?? '', code: v.code ?? '' } }), (d) => {
                  setToken(d.registration_token ?? '');
                  setStep('account');
                })
              }
            >
              Verify
            </Button>
          </>
        )}
        {step === 'account' && (
          <>
            <TextInput label="Username" value={v.username ?? ''} onChange={(e) => setV((x) => ({ ...x, username: e.currentTarget.value }))} />
            <PasswordInput label="Password" value={v.password ?? ''} onChange={(e) => setV((x) => ({ ...x, password: e.currentTarget.value }))} />
            {(o.products as { id: string; name: string; price?: string }[]).length > 0 && (
              <Select
                label="Plan"
                data={(o.products as { id: string; name: string; price?: string }[]).map((p) => ({ value: p.id, label: `${p.name}${p.price ? ` (${p.price})` : ''}` }))}
                value={v.product_id ?? null}
                onChange={(x) => setV((y) => ({ ...y, product_id: x ?? '' }))}
              />
            )}
            <Button
              onClick={() =>
                go(
                  portal.POST('/portal/register/complete', {
                    body: { registration_token: token, username: v.username || undefined, password: v.password || undefined, product_id: v.product_id || undefined },
                  }),
                  (d) => {
                    setDone(d);
                    setStep('done');
                  },
                )
              }
            >
              Create my account
            </Button>
          </>
        )}
        {step === 'done' && (
          <Alert color="green" title="Your account is ready" role="status">
            Username <b>{done?.username ?? start?.username}</b>
            {(done?.password ?? start?.password) && (
              <>
                {' '}
                · password <b>{done?.password ?? start?.password}</b>
              </>
            )}
            {done?.autologin_url && (
              <Text mt="xs">
                <a href={done.autologin_url}>Open my portal</a>
              </Text>
            )}
          </Alert>
        )}
        {error && (
          <Alert color="red" role="alert">
            {error}
          </Alert>
        )}
      </Stack>
    </Card>
  );
}

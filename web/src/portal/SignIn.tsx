import { Alert, Button, Center, Loader, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { errorText, portal, session, type Schemas } from '../api/client';

export function keep(s: Schemas['PortalSessionOut']) {
  session.setPortal({ token: s.token, tenant_id: s.tenant_id, username: s.username, subscriber_id: s.subscriber_id });
}

export function SignInForm({ tenant, username = '', title = 'Customer portal', onDone }: { tenant?: string; username?: string; title?: string; onDone?: () => void }) {
  const navigate = useNavigate();
  const [t, setT] = useState(tenant ?? localStorage.getItem('wisp.portal.tenant') ?? '');
  const [u, setU] = useState(username);
  const [p, setP] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const { data, error: err } = await portal.POST('/portal/auth/login', { body: { tenant_id: t, username: u, password: p } });
    setBusy(false);
    if (!data) return setError(errorText(err));
    localStorage.setItem('wisp.portal.tenant', t);
    keep(data);
    if (onDone) onDone();
    else navigate('/my/service');
  }
  return (
    <Paper withBorder p="lg" maw={420} mx="auto" mt="md">
      <form onSubmit={submit} aria-label="Portal sign-in">
        <Stack>
          <Title order={1} size="h3">
            {title}
          </Title>
          {!tenant && <TextInput label="Provider code" description="printed on your card or invoice" required value={t} onChange={(e) => setT(e.currentTarget.value)} />}
          <TextInput label="Username" required autoComplete="username" value={u} onChange={(e) => setU(e.currentTarget.value)} />
          <PasswordInput label="Password" required autoComplete="current-password" value={p} onChange={(e) => setP(e.currentTarget.value)} />
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          <Button type="submit" loading={busy}>
            Sign in
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}

export function SignIn() {
  const [params] = useSearchParams();
  return <SignInForm tenant={params.get('t') ?? undefined} />;
}

/** The card's QR code opens /my/card?u=<username>&t=<provider>: sign in with the password printed on the card. */
export function CardLanding() {
  const [params] = useSearchParams();
  return (
    <>
      <Text ta="center" mt="md" size="sm">
        Type the password printed on your card.
      </Text>
      <SignInForm tenant={params.get('t') ?? undefined} username={params.get('u') ?? ''} title="Sign in with your card" />
    </>
  );
}

function Exchange({ run }: { run: () => Promise<{ data?: Schemas['PortalSessionOut']; error?: unknown }> }) {
  const navigate = useNavigate();
  const [error, setError] = useState<string | null>(null);
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    run().then(({ data, error: err }) => {
      if (!data) return setError(errorText(err));
      keep(data);
      // the token must not stay in the address bar or the history
      navigate('/my/service', { replace: true });
    });
  }, [run, navigate]);
  return (
    <Center mt="xl">
      {error ? (
        <Stack maw={420}>
          <Alert color="red" role="alert" title="This link does not work">
            {error}
          </Alert>
          <SignInForm />
        </Stack>
      ) : (
        <Loader role="status" aria-label="Signing you in" />
      )}
    </Center>
  );
}

export function Autologin() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  return <Exchange run={() => portal.POST('/portal/auth/autologin', { body: { token } })} />;
}

export function ShortLink() {
  const { code = '' } = useParams();
  return <Exchange run={() => portal.GET('/portal/a/{code}', { params: { path: { code } } })} />;
}

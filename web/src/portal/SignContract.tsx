import { Alert, Button, Card, Group, ScrollArea, SegmentedControl, Stack, Text, TextInput, Title } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { errorText, ok, portal } from '../api/client';
import { Loading, useLoad } from '../ui/common';

function SignaturePad({ onChange }: { onChange: (png: string | null) => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const drawing = useRef(false);
  const drawn = useRef(false);
  useEffect(() => {
    const c = ref.current!;
    const ctx = c.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.strokeStyle = '#111';
  }, []);
  const pos = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    return [((e.clientX - r.left) * e.currentTarget.width) / r.width, ((e.clientY - r.top) * e.currentTarget.height) / r.height] as const;
  };
  return (
    <Stack gap={4}>
      <canvas
        ref={ref}
        width={600}
        height={200}
        role="img"
        aria-label="Signature pad: draw your signature"
        style={{ width: '100%', maxWidth: 600, border: '1px solid #adb5bd', borderRadius: 4, touchAction: 'none', background: '#fff' }}
        onPointerDown={(e) => {
          drawing.current = true;
          const ctx = e.currentTarget.getContext('2d')!;
          ctx.beginPath();
          ctx.moveTo(...pos(e));
        }}
        onPointerMove={(e) => {
          if (!drawing.current) return;
          const ctx = e.currentTarget.getContext('2d')!;
          ctx.lineTo(...pos(e));
          ctx.stroke();
          drawn.current = true;
        }}
        onPointerUp={() => {
          drawing.current = false;
          if (drawn.current) onChange(ref.current!.toDataURL('image/png').split(',')[1]);
        }}
      />
      <Button
        size="compact-sm"
        variant="default"
        w="fit-content"
        onClick={() => {
          const c = ref.current!;
          const ctx = c.getContext('2d')!;
          ctx.fillStyle = '#fff';
          ctx.fillRect(0, 0, c.width, c.height);
          drawn.current = false;
          onChange(null);
        }}
      >
        Clear
      </Button>
    </Stack>
  );
}

/** The contract signing link: no login, the token in the link names the contract. */
export function SignContract() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const contract = useLoad(() => ok(portal.GET('/portal/contract-signing', { params: { query: { token } } })), [token]);
  const [how, setHow] = useState('typed');
  const [name, setName] = useState('');
  const [png, setPng] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!contract.data) return <Loading loading={contract.loading} error={contract.error} />;
  const c = contract.data;
  async function sign() {
    setBusy(true);
    setError(null);
    const { data, error: err } = await portal.POST('/portal/contract-signing', {
      body: how === 'typed' ? { token, typed_name: name } : { token, signature_png: png ?? '' },
    });
    setBusy(false);
    if (!data) return setError(errorText(err));
    contract.setData(data);
  }
  return (
    <Stack mt="md">
      <Title order={1} size="h3">
        Service contract
      </Title>
      <Card withBorder>
        <ScrollArea.Autosize mah={360}>
          <Text style={{ whiteSpace: 'pre-wrap' }} size="sm">
            {c.content}
          </Text>
        </ScrollArea.Autosize>
        <Text size="xs" mt="xs">
          {c.start_date ? `From ${c.start_date}` : ''} {c.end_date ? `to ${c.end_date}` : ''}
        </Text>
      </Card>
      {c.signed ? (
        <Alert color="green" title="Signed" role="status" data-testid="contract-signed">
          Thank you: the contract is signed ({c.status}).
        </Alert>
      ) : (
        <Card withBorder>
          <Stack>
            <SegmentedControl
              value={how}
              onChange={setHow}
              data={[
                { value: 'typed', label: 'Type my name' },
                { value: 'drawn', label: 'Draw my signature' },
              ]}
            />
            {how === 'typed' ? <TextInput label="Full name" value={name} onChange={(e) => setName(e.currentTarget.value)} /> : <SignaturePad onChange={setPng} />}
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <Group>
              <Button onClick={sign} loading={busy} disabled={how === 'typed' ? name.trim().length < 2 : !png}>
                Sign the contract
              </Button>
            </Group>
          </Stack>
        </Card>
      )}
    </Stack>
  );
}

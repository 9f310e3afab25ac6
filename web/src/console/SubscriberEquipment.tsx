// The subscriber's equipment: the antenna, the Wi-Fi modem and notes. Passwords are write-only (a saved one
// shows as "unchanged"); managers and above can show them in clear, and each showing is in the history.
import { Alert, Button, Checkbox, Fieldset, Group, Paper, PasswordInput, SimpleGrid, Stack, Table, Text, TextInput, Textarea, Title } from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { admin, errorText, fieldErrors, ok, type Schemas } from '../api/client';
import { useLoad } from '../ui/common';

type Sub = Schemas['SubscriberOut'];
type Secrets = Schemas['EquipmentSecretsOut'];
type Piece = 'antenna' | 'modem';

const REVEAL_ROLES = ['manager', 'reseller', 'system_admin'];
const TEXT: Record<Piece, [string, string][]> = {
  antenna: [
    ['model', 'Antenna model'],
    ['serial', 'Antenna serial number'],
    ['mac', 'Antenna MAC'],
    ['ip', 'Antenna management IP'],
    ['user', 'Antenna user'],
  ],
  modem: [
    ['model', 'Modem model'],
    ['serial', 'Modem serial number'],
    ['mac', 'Modem MAC'],
    ['ip', 'Modem management IP'],
    ['user', 'Modem user'],
    ['wifi_ssid', 'Wi-Fi name (SSID)'],
  ],
};
const PASSWORDS: Record<Piece, [string, string][]> = {
  antenna: [['password', 'Antenna password']],
  modem: [
    ['password', 'Modem password'],
    ['wifi_password', 'Wi-Fi password'],
  ],
};
const TITLES: Record<Piece, string> = { antenna: 'Antenna', modem: 'Modem / Wi-Fi router' };

function isSet(sub: Sub, piece: Piece, key: string): boolean {
  const saved = sub.advanced?.[piece] as Record<string, unknown> | null | undefined;
  return !!saved?.[`${key}_set`];
}

function initialText(sub: Sub): Record<string, string> {
  const out: Record<string, string> = { notes: sub.advanced?.notes ?? '' };
  for (const piece of ['antenna', 'modem'] as Piece[]) {
    const saved = (sub.advanced?.[piece] ?? {}) as Record<string, unknown>;
    for (const [key] of TEXT[piece]) out[`${piece}.${key}`] = typeof saved[key] === 'string' ? (saved[key] as string) : '';
  }
  return out;
}

/** The body's `advanced`: the text typed, a password only when typed (or '' to remove it); a piece with a
 * saved password is sent even when empty, so its password is kept. */
function equipmentBody(sub: Sub, text: Record<string, string>, typed: Record<string, string>, remove: Record<string, boolean>): Schemas['EquipmentIn'] {
  const body: Record<string, unknown> = { notes: text.notes.trim() || undefined };
  for (const piece of ['antenna', 'modem'] as Piece[]) {
    const section: Record<string, string> = {};
    for (const [key] of TEXT[piece]) if (text[`${piece}.${key}`].trim()) section[key] = text[`${piece}.${key}`].trim();
    let keep = false;
    for (const [key] of PASSWORDS[piece]) {
      const path = `${piece}.${key}`;
      if (remove[path]) section[key] = '';
      else if (typed[path]) section[key] = typed[path];
      else keep ||= isSet(sub, piece, key);
    }
    if (Object.keys(section).length > 0 || keep) body[piece] = section;
  }
  return body as Schemas['EquipmentIn'];
}

function Revealed({ secrets }: { secrets: Secrets }) {
  const rows: [string, string | null | undefined][] = [
    ['Antenna password', secrets.antenna.password],
    ['Modem password', secrets.modem.password],
    ['Wi-Fi password', secrets.modem.wifi_password],
    ...Object.entries(secrets.other).map(([k, v]) => [`${k} (recorded before)`, v] as [string, string]),
  ];
  return (
    <Table aria-label="Equipment passwords" data-testid="equipment-secrets">
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th scope="row">{label}</Table.Th>
            <Table.Td>{value ? <code>{value}</code> : '—'}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function RecordedBefore({ sub }: { sub: Sub }) {
  const other = (sub.advanced?.other ?? {}) as Record<string, unknown>;
  const withheld = sub.advanced?.other_withheld ?? [];
  if (Object.keys(other).length === 0 && withheld.length === 0) return null;
  return (
    <Paper withBorder p="md">
      <Title order={3} size="h5" mb="xs">
        Recorded before equipment had fields (read only)
      </Title>
      <Table aria-label="Equipment data recorded before">
        <Table.Tbody>
          {Object.entries(other).map(([k, v]) => (
            <Table.Tr key={k}>
              <Table.Th scope="row">{k}</Table.Th>
              <Table.Td>{typeof v === 'string' ? v : JSON.stringify(v)}</Table.Td>
            </Table.Tr>
          ))}
          {withheld.map((k) => (
            <Table.Tr key={`withheld-${k}`}>
              <Table.Th scope="row">{k}</Table.Th>
              <Table.Td>withheld (a password)</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Paper>
  );
}

export function SubscriberEquipment({ sub, onSaved }: { sub: Sub; onSaved: () => void }) {
  const me = useLoad(() => ok(admin.GET('/admin/me')), []);
  const [text, setText] = useState(() => initialText(sub));
  const [typed, setTyped] = useState<Record<string, string>>({});
  const [remove, setRemove] = useState<Record<string, boolean>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [secrets, setSecrets] = useState<Secrets | null>(null);
  const [revealError, setRevealError] = useState<string | null>(null);
  const canReveal = REVEAL_ROLES.includes(me.data?.role ?? '');
  const path = { params: { path: { subscriber_id: sub.id } } };

  async function save(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setErrors({});
    setSaved(false);
    const { data, error: err } = await admin.PATCH('/admin/subscribers/{subscriber_id}', { ...path, body: { advanced: equipmentBody(sub, text, typed, remove) } });
    setBusy(false);
    if (!data) {
      setErrors(fieldErrors(err));
      return setError(errorText(err));
    }
    setText(initialText(data.subscriber));
    setTyped({});
    setRemove({});
    setSaved(true);
    setSecrets(null);
    onSaved();
  }
  async function reveal() {
    setRevealError(null);
    try {
      setSecrets(await ok(admin.GET('/admin/subscribers/{subscriber_id}/equipment-secrets', path)));
    } catch (e) {
      setRevealError((e as Error).message);
    }
  }
  const arp = sub.advanced?.arp as { interface?: string | null; static?: boolean } | null | undefined;
  return (
    <Stack>
      <form onSubmit={save} aria-label="Equipment">
        <Stack gap="sm">
          <SimpleGrid cols={{ base: 1, md: 2 }}>
            {(['antenna', 'modem'] as Piece[]).map((piece) => (
              <Fieldset legend={TITLES[piece]} key={piece}>
                <Stack gap="xs">
                  {TEXT[piece].map(([key, label]) => (
                    <TextInput
                      key={key}
                      label={label}
                      value={text[`${piece}.${key}`]}
                      error={errors[`advanced.${piece}.${key}`]}
                      onChange={(e) => {
                        const v = e.currentTarget.value;
                        setText((t) => ({ ...t, [`${piece}.${key}`]: v }));
                      }}
                    />
                  ))}
                  {PASSWORDS[piece].map(([key, label]) => {
                    const p = `${piece}.${key}`;
                    const set = isSet(sub, piece, key);
                    return (
                      <Stack gap={4} key={key}>
                        <PasswordInput
                          label={label}
                          placeholder={set ? 'unchanged' : 'not set'}
                          autoComplete="new-password"
                          value={typed[p] ?? ''}
                          disabled={!!remove[p]}
                          error={errors[`advanced.${p}`]}
                          onChange={(e) => {
                            const v = e.currentTarget.value;
                            setTyped((t) => ({ ...t, [p]: v }));
                          }}
                        />
                        {set && (
                          <Checkbox
                            size="xs"
                            label={`${label}: remove the saved one`}
                            checked={!!remove[p]}
                            onChange={(e) => {
                              const v = e.currentTarget.checked;
                              setRemove((r) => ({ ...r, [p]: v }));
                            }}
                          />
                        )}
                      </Stack>
                    );
                  })}
                </Stack>
              </Fieldset>
            ))}
          </SimpleGrid>
          <Textarea label="Equipment notes" autosize minRows={2} value={text.notes} error={errors['advanced.notes']} onChange={(e) => {
            const v = e.currentTarget.value;
            setText((t) => ({ ...t, notes: v }));
          }} />
          {arp && (
            <Text size="sm">
              ARP binding on the router: {arp.interface ?? 'any interface'}
              {arp.static ? ', static' : ''}
            </Text>
          )}
          {error && (
            <Alert color="red" role="alert">
              {error}
            </Alert>
          )}
          {saved && (
            <Text c="green" size="sm" role="status">
              Equipment saved
            </Text>
          )}
          <Group>
            <Button type="submit" loading={busy}>
              Save equipment
            </Button>
            {canReveal && !secrets && (
              <Button variant="default" onClick={reveal}>
                Show passwords
              </Button>
            )}
            {secrets && (
              <Button variant="default" onClick={() => setSecrets(null)}>
                Hide passwords
              </Button>
            )}
          </Group>
        </Stack>
      </form>
      {revealError && (
        <Alert color="red" role="alert">
          {revealError}
        </Alert>
      )}
      {secrets && <Revealed secrets={secrets} />}
      <RecordedBefore sub={sub} />
    </Stack>
  );
}

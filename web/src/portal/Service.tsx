import { BarChart } from '@mantine/charts';
import { Badge, Card, Group, Progress, SimpleGrid, Stack, Text, Title } from '@mantine/core';
import { ok, portal } from '../api/client';
import { Loading, useLoad } from '../ui/common';
import { bytes, duration, when } from '../ui/format';

interface Allowance {
  limit: number | null;
  used: number;
  remaining: number | null;
  resets_at: string | null;
}

function Bar({ label, a, fmt }: { label: string; a: Allowance | undefined; fmt: (n: number) => string }) {
  if (!a) return null;
  const unlimited = a.limit === null;
  const left = unlimited ? 100 : Math.max(0, Math.min(100, ((a.remaining ?? 0) / (a.limit || 1)) * 100));
  return (
    <div data-testid={`allowance-${label.toLowerCase().replace(/\s+/g, '-')}`}>
      <Group justify="space-between" gap={4}>
        <Text size="sm" fw={600}>
          {label}
        </Text>
        <Text size="sm">{unlimited ? `unlimited · used ${fmt(a.used)}` : `${fmt(a.remaining ?? 0)} left of ${fmt(a.limit ?? 0)}`}</Text>
      </Group>
      <Progress value={left} color={left < 15 ? 'red' : left < 40 ? 'yellow' : 'teal'} size="lg" aria-label={`${label} remaining`} />
      {a.resets_at && (
        <Text size="xs" c="dark.4">
          renews {when(a.resets_at)}
        </Text>
      )}
    </div>
  );
}

export function Service() {
  const svc = useLoad(() => ok(portal.GET('/portal/service')), []);
  const usage = useLoad(() => ok(portal.GET('/portal/usage/daily', { params: { query: { days: 14 } } })), []);
  if (!svc.data) return <Loading loading={svc.loading} error={svc.error} />;
  const s = svc.data;
  const al = s.allowances as Record<string, { time_s?: Allowance; data_bytes?: Allowance } | undefined>;
  const product = s.product as { name?: string; price?: string } | null;
  return (
    <Stack>
      <Card withBorder>
        <Group justify="space-between">
          <div>
            <Title order={1} size="h3">
              {product?.name ?? 'No plan'}
            </Title>
            <Text size="sm">
              {s.username} · {s.connection_type} {s.ip ? `· ${s.ip}` : ''}
            </Text>
          </div>
          <Badge size="lg" color={s.status === 'active' ? 'green' : s.status === 'suspended' ? 'red' : 'blue'}>
            {s.status}
          </Badge>
        </Group>
        <Text size="sm" mt="xs">
          Balance {s.balance} · {s.online_now > 0 ? `online now on ${s.online_now} device(s)` : 'offline'}
        </Text>
        {s.rules.length > 0 && (
          <ul style={{ margin: '8px 0 0', paddingLeft: 18 }}>
            {s.rules.map((r) => (
              <li key={r}>
                <Text size="sm">{r}</Text>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">
          What is left
        </Title>
        <SimpleGrid cols={{ base: 1, xs: 2 }} spacing="md">
          {(['daily', 'weekly', 'monthly'] as const).map((p) => (
            <Stack key={p} gap="xs">
              <Bar label={`${p[0].toUpperCase()}${p.slice(1)} time`} a={al[p]?.time_s} fmt={duration} />
              <Bar label={`${p[0].toUpperCase()}${p.slice(1)} data`} a={al[p]?.data_bytes} fmt={bytes} />
            </Stack>
          ))}
        </SimpleGrid>
      </Card>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">
          Traffic per day
        </Title>
        <Loading loading={usage.loading && !usage.data} error={usage.error} />
        {usage.data && (
          <BarChart
            h={200}
            data={usage.data.days.map((d) => ({ day: d.date.slice(5), 'Download MB': +(d.download_bytes / 1048576).toFixed(2), 'Upload MB': +(d.upload_bytes / 1048576).toFixed(2) }))}
            dataKey="day"
            series={[{ name: 'Download MB', color: 'indigo.6' }, { name: 'Upload MB', color: 'teal.6' }]}
          />
        )}
      </Card>
    </Stack>
  );
}

import { AppShell, Burger, Button, Group, NavLink, ScrollArea, Select, Text, Title, VisuallyHidden } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { lazy, Suspense, useEffect, useState } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { admin, ok, rowsOf, session, type Schemas } from '../api/client';
import { useLoad } from '../ui/common';
import { ApiKeys, Audit, Tasks } from './Admin';
import { PaymentSettings } from './PaymentSettings';
import { Invoices, Payments, Runs, RunDetail, SalesReport } from './Billing';
import { Batches, Imports } from './Channels';
import { Jobs } from './Jobs';
import { Login } from './Login';
import { Online } from './Online';
import { Subscribers } from './Subscribers';

// Pages with charts load on demand: the subscriber list does not wait for the chart library.
const SubscriberPage = lazy(() => import('./SubscriberPage').then((m) => ({ default: m.SubscriberPage })));
const catalogue = () => import('./Catalogue');
const Zones = lazy(() => catalogue().then((m) => ({ default: m.Zones })));
const Gateways = lazy(() => catalogue().then((m) => ({ default: m.Gateways })));
const GatewayDetail = lazy(() => catalogue().then((m) => ({ default: m.GatewayDetail })));
const Policies = lazy(() => catalogue().then((m) => ({ default: m.Policies })));
const PolicyEditor = lazy(() => catalogue().then((m) => ({ default: m.PolicyEditor })));
const Products = lazy(() => catalogue().then((m) => ({ default: m.Products })));

const NAV: { to: string; label: string; group?: string }[] = [
  { to: '/', label: 'Subscribers' },
  { to: '/online', label: 'Online' },
  { to: '/zones', label: 'Zones', group: 'Catalogue' },
  { to: '/gateways', label: 'Gateways', group: 'Catalogue' },
  { to: '/policies', label: 'Policies', group: 'Catalogue' },
  { to: '/products', label: 'Products', group: 'Catalogue' },
  { to: '/cards', label: 'Card batches', group: 'Channels' },
  { to: '/imports', label: 'Imports', group: 'Channels' },
  { to: '/jobs', label: 'Jobs', group: 'Channels' },
  { to: '/invoices', label: 'Invoices', group: 'Billing' },
  { to: '/payments', label: 'Payments', group: 'Billing' },
  { to: '/payment-settings', label: 'Online payments', group: 'Billing' },
  { to: '/runs', label: 'Billing runs', group: 'Billing' },
  { to: '/sales', label: 'Sales report', group: 'Billing' },
  { to: '/tasks', label: 'Router tasks', group: 'System' },
  { to: '/audit', label: 'Audit log', group: 'System' },
  { to: '/api-keys', label: 'API keys', group: 'System' },
];

function TenantSwitcher({ me }: { me: Schemas['MeOut'] }) {
  const tenants = useLoad(
    () => (me.tenant.kind === 'manager' ? Promise.resolve(undefined) : ok(admin.GET('/admin/tenants', {}))),
    [me.tenant.id],
  );
  const items = rowsOf<{ id: string; name: string; kind: string }>(tenants.data);
  if (me.tenant.kind === 'manager' || items.length === 0) return <Text size="sm">{me.tenant.name}</Text>;
  return (
    <Select
      aria-label="Tenant"
      size="xs"
      w={220}
      data={items.map((t) => ({ value: t.id, label: `${t.name} (${t.kind})` }))}
      value={session.tenant() ?? me.tenant.id}
      onChange={(v) => {
        session.setTenant(v && v !== me.tenant.id ? v : null);
        window.location.reload();
      }}
      allowDeselect={false}
    />
  );
}

export default function ConsoleApp() {
  const [signedIn, setSignedIn] = useState(() => session.operator() !== null);
  const [opened, { toggle, close }] = useDisclosure();
  const location = useLocation();
  useEffect(() => {
    const off = () => setSignedIn(false);
    window.addEventListener('wisp:signed-out', off);
    return () => window.removeEventListener('wisp:signed-out', off);
  }, []);
  useEffect(close, [location.pathname, close]);
  const me = useLoad(() => (signedIn ? ok(admin.GET('/admin/me')) : Promise.resolve(undefined)), [signedIn]);

  if (!signedIn) return <Login onSignedIn={() => setSignedIn(true)} />;

  let group: string | undefined;
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <Title order={2} size="h4">
              WispCloud
            </Title>
          </Group>
          <Group wrap="nowrap" gap="sm">
            {me.data && <TenantSwitcher me={me.data} />}
            <Text size="sm" visibleFrom="sm">
              {me.data?.operator?.email ?? me.data?.actor_id} · {me.data?.role}
            </Text>
            <Button
              size="xs"
              variant="default"
              onClick={() => {
                session.setOperator(null);
                session.setTenant(null);
                setSignedIn(false);
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label="Main">
        <ScrollArea>
          <nav>
            {NAV.map((n) => {
              const header = n.group && n.group !== group ? n.group : undefined;
              group = n.group;
              const active = n.to === '/' ? location.pathname === '/' || location.pathname.startsWith('/subscribers') : location.pathname.startsWith(n.to);
              return (
                <div key={n.to}>
                  {header && (
                    <Text size="xs" fw={700} c="dark.3" mt="sm" px="sm" tt="uppercase">
                      {header}
                    </Text>
                  )}
                  <NavLink component={Link} to={n.to} label={n.label} active={active} />
                </div>
              );
            })}
          </nav>
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <VisuallyHidden>
          <a href="#main">Skip to content</a>
        </VisuallyHidden>
        <main id="main">
          <Suspense fallback={null}>
          <Routes>
            <Route path="/" element={<Subscribers />} />
            <Route path="/subscribers" element={<Subscribers />} />
            <Route path="/subscribers/:id" element={<SubscriberPage />} />
            <Route path="/online" element={<Online />} />
            <Route path="/zones" element={<Zones />} />
            <Route path="/gateways" element={<Gateways />} />
            <Route path="/gateways/:id" element={<GatewayDetail />} />
            <Route path="/policies" element={<Policies />} />
            <Route path="/policies/:id" element={<PolicyEditor />} />
            <Route path="/products" element={<Products />} />
            <Route path="/cards" element={<Batches />} />
            <Route path="/imports" element={<Imports />} />
            <Route path="/jobs" element={<Jobs />} />
            <Route path="/invoices" element={<Invoices />} />
            <Route path="/payments" element={<Payments />} />
            <Route path="/payment-settings" element={<PaymentSettings />} />
            <Route path="/runs" element={<Runs />} />
            <Route path="/runs/:id" element={<RunDetail />} />
            <Route path="/sales" element={<SalesReport />} />
            <Route path="/tasks" element={<Tasks />} />
            <Route path="/audit" element={<Audit />} />
            <Route path="/api-keys" element={<ApiKeys />} />
            <Route path="/login" element={<Navigate to="/" replace />} />
            <Route path="*" element={<Text>Page not found</Text>} />
          </Routes>
          </Suspense>
        </main>
      </AppShell.Main>
    </AppShell>
  );
}

import { Anchor, AppShell, Button, Container, Group, Text } from '@mantine/core';
import { useEffect, useState } from 'react';
import { Link, Navigate, Route, Routes, useNavigate } from 'react-router-dom';
import { session } from '../api/client';
import { Autologin, CardLanding, ShortLink, SignIn } from './SignIn';
import { Checkout, InvoiceDetail, Invoices } from './Invoices';
import { Notice } from './Notice';
import { Register } from './Register';
import { Service } from './Service';
import { SignContract } from './SignContract';

function Shell({ children }: { children: React.ReactNode }) {
  const navigate = useNavigate();
  const s = session.portal();
  return (
    <AppShell header={{ height: 52 }} padding="sm">
      <AppShell.Header>
        <Container size="sm" h="100%">
          <Group h="100%" justify="space-between" wrap="nowrap">
            <Text fw={700} component={Link} to="/my/service" c="dark.9" style={{ textDecoration: 'none' }}>
              My service
            </Text>
            {s && (
              <Group gap="sm" wrap="nowrap">
                <Anchor component={Link} to="/my/invoices" size="sm">
                  Invoices
                </Anchor>
                <Button
                  size="compact-sm"
                  variant="default"
                  onClick={() => {
                    session.setPortal(null);
                    navigate(`/my/?t=${encodeURIComponent(s.tenant_id)}`);
                  }}
                >
                  Sign out
                </Button>
              </Group>
            )}
          </Group>
        </Container>
      </AppShell.Header>
      <AppShell.Main>
        <Container size="sm" px={0} component="main">
          {children}
        </Container>
      </AppShell.Main>
    </AppShell>
  );
}

/** Pages that need a portal session send the visitor to sign in first. */
function Private({ children }: { children: React.ReactNode }) {
  const [signedIn, setSignedIn] = useState(() => session.portal() !== null);
  useEffect(() => setSignedIn(session.portal() !== null), []);
  if (!signedIn) return <Navigate to="/my/" replace />;
  return <>{children}</>;
}

export default function PortalApp() {
  return (
    <Shell>
      <Routes>
        <Route index element={session.portal() ? <Navigate to="/my/service" replace /> : <SignIn />} />
        <Route path="autologin" element={<Autologin />} />
        <Route path="a/:code" element={<ShortLink />} />
        <Route path="card" element={<CardLanding />} />
        <Route path="sign" element={<SignContract />} />
        <Route path="register" element={<Register />} />
        <Route path="notice" element={<Notice />} />
        <Route path="checkout/:ref" element={<Checkout />} />
        <Route path="service" element={<Private><Service /></Private>} />
        <Route path="invoices" element={<Private><Invoices /></Private>} />
        <Route path="invoices/:id" element={<Private><InvoiceDetail /></Private>} />
        <Route path="*" element={<Text>Page not found</Text>} />
      </Routes>
    </Shell>
  );
}

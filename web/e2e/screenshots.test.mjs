// README screenshots of the main screens at desktop and phone widths (`make screenshots`).
import { after, before, test } from 'node:test';
import { api, audit, BASE, DESKTOP, launch, PHONE, radiusSession, shot } from './lib.mjs';

const ON = Boolean(process.env.WISP_SCREENSHOTS);
const TIMEOUT = 20_000;
let browser;
const ids = {};

before(async () => {
  if (!ON) return;
  const names = [
    ['maria', 'María López', 'active'],
    ['jose', 'José Pérez', 'active'],
    ['lucia', 'Lucía Torres', 'suspended'],
    ['pedro', 'Pedro Ruiz', 'new'],
    ['carmen', 'Carmen Díaz', 'free'],
    ['diego', 'Diego Romero', 'active'],
  ];
  const stamp = Date.now().toString(36).slice(-4);
  for (const [i, [u, name, status]] of names.entries()) {
    const res = await api('POST', '/admin/subscribers', { username: `${u}-${stamp}`, name, status, phone: `+52 55 5000 10${i}0`, gateway_id: 'gw_demo', zone_id: 'zone_demo', product_id: 'prod_demo', ip: `10.99.${Date.now() % 200}.${10 + i}` });
    ids[u] = res.subscriber.id;
    if (status !== 'new') radiusSession({ username: `${u}-${stamp}`, sessionId: `shot-${u}-${stamp}`, ip: `10.99.0.${10 + i}`, mac: `AA:BB:CC:00:00:${10 + i}`, inputOctets: 2e8 * (i + 1), outputOctets: 9e8 * (i + 1), seconds: 5400 * (i + 1) });
  }
  await api('POST', '/admin/invoices', { subscriber_id: ids.lucia, kind: 'other', lines: [{ description: 'Monthly service', quantity: '1', unit_price: '25.00' }] });
  browser = await launch();
});
after(async () => browser?.close());

async function operatorPage(viewport) {
  const ctx = await browser.newContext({ viewport, isMobile: viewport === PHONE });
  ctx.setDefaultTimeout(TIMEOUT);
  const token = process.env.WISP_MANAGER_TOKEN;
  await ctx.addInitScript((t) => localStorage.setItem('wisp.operator', JSON.stringify({ token: t, expires_at: '', email: 'manager@demo.local' })), token);
  return ctx.newPage();
}

async function portalPage(viewport, subscriberId) {
  const link = await api('POST', `/admin/subscribers/${subscriberId}/autologin-link`);
  const ctx = await browser.newContext({ viewport, isMobile: viewport === PHONE });
  ctx.setDefaultTimeout(TIMEOUT);
  const page = await ctx.newPage();
  await page.goto(link.url.replace(/^https?:\/\/[^/]+/, BASE));
  await page.waitForURL(/\/my\/service$/);
  return page;
}

test('console screens', { skip: !ON }, async () => {
  for (const [viewport, suffix] of [
    [DESKTOP, 'desktop'],
    [PHONE, 'phone'],
  ]) {
    const page = await operatorPage(viewport);
    await page.goto(BASE + '/');
    await page.locator('tbody tr[data-status]').nth(3).waitFor();
    await page.getByTestId('total-all-count').waitFor();
    await shot(page, `subscribers-${suffix}`);
    await page.goto(`${BASE}/subscribers/${ids.maria}`);
    await page.getByText('Traffic and time per day').waitFor();
    await shot(page, `subscriber-${suffix}`);
    if (suffix === 'desktop') {
      await page.getByRole('tab', { name: 'Connection log' }).click();
      await page.getByRole('table', { name: 'Connection log' }).locator('tbody tr').first().waitFor();
      await shot(page, 'connection-log-desktop');
      await page.goto(BASE + '/policies/pol_demo');
      await page.getByTestId('modulation-curve').waitFor();
      await page.getByRole('textbox', { name: 'Algorithm' }).click();
      await page.getByRole('option', { name: 'medium' }).click();
      await page.getByLabel('Min download rate (bit/s)').fill('1000000');
      await page.getByTestId('modulation-curve').locator('.recharts-line').waitFor();
      await audit(page, 'policy editor');
      await shot(page, 'policy-editor-desktop');
      await page.goto(BASE + '/invoices');
      await page.getByRole('table', { name: 'Invoices' }).locator('tbody tr').first().waitFor();
      await audit(page, 'invoices');
      await shot(page, 'invoices-desktop');
    }
    await page.context().close();
  }
});

test('subscriber pages', { skip: !ON }, async () => {
  for (const [viewport, suffix] of [
    [PHONE, 'phone'],
    [DESKTOP, 'desktop'],
  ]) {
    const page = await portalPage(viewport, ids.maria);
    await page.getByText('What is left').waitFor();
    await shot(page, `portal-service-${suffix}`);
    await page.context().close();
  }
  const suspended = await portalPage(PHONE, ids.lucia);
  await suspended.goto(BASE + '/my/notice?t=ten_demo');
  await suspended.getByTestId('notice-due').waitFor();
  await audit(suspended, 'notice');
  await shot(suspended, 'portal-notice-phone');
  await suspended.goto(BASE + '/my/invoices');
  await suspended.getByTestId('portal-invoice').first().click();
  await suspended.getByTestId('invoice-due').waitFor();
  await shot(suspended, 'portal-invoice-phone');
  const ctx = await browser.newContext({ viewport: PHONE, isMobile: true });
  const card = await ctx.newPage();
  await card.goto(BASE + '/my/card?u=demo&t=ten_demo');
  await card.getByLabel('Password').waitFor();
  await audit(card, 'card landing');
  await shot(card, 'portal-card-phone');
  await ctx.close();
});

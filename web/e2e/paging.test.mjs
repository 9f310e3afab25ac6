// A list longer than a page, in headless Chromium: "Load more" reads the older pages, each row once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, audit, BASE, DESKTOP, launch } from './lib.mjs';

const RUN = Date.now().toString(36);
const TIMEOUT = 20_000; // generous ceilings: 2 shared cores
const PAGE = 50; // the invoice list's page (GET /admin/invoices' default limit)
let browser;
const state = {};

before(async () => {
  // a client with one page of invoices and one more: the oldest is on the second page
  const sub = await api('POST', '/admin/subscribers', { username: `pages-${RUN}`, name: 'Paging test', zone_id: 'zone_demo', product_id: 'prod_demo' });
  state.invoices = [];
  for (let i = 0; i <= PAGE; i++) {
    const inv = await api('POST', '/admin/invoices', { subscriber_id: sub.subscriber.id, kind: 'other', lines: [{ description: `Paging test ${i}`, quantity: '1', unit_price: '1.00' }] });
    state.invoices.push((inv.invoice ?? inv).id);
  }
  browser = await launch();
});
after(async () => browser?.close());

test('the invoice list loads its older pages with "Load more", each invoice once', async () => {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  ctx.setDefaultTimeout(TIMEOUT);
  const token = process.env.WISP_MANAGER_TOKEN;
  await ctx.addInitScript((t) => localStorage.setItem('wisp.operator', JSON.stringify({ token: t, expires_at: '', email: 'manager@demo.local' })), token);
  const page = await ctx.newPage();
  await page.goto(BASE + '/invoices');
  const rows = page.getByRole('table', { name: 'Invoices' }).locator('tbody tr[data-invoice-id]');
  const row = (id) => page.locator(`tbody tr[data-invoice-id="${id}"]`);
  const ids = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-invoice-id')));
  // the first page: the newest invoices, not the oldest one made above
  await row(state.invoices[PAGE]).waitFor();
  assert.equal(await rows.count(), PAGE);
  assert.equal(await row(state.invoices[0]).count(), 0);
  assert.match(await page.getByTestId('shown-count').textContent(), new RegExp(`^${PAGE} invoices shown$`));
  await audit(page, 'invoice list with more pages');
  // the next page is added under the first one
  await page.getByRole('button', { name: 'Load more invoices' }).click();
  await row(state.invoices[0]).waitFor();
  const shown = await ids();
  assert.ok(shown.length > PAGE, `${shown.length} rows`);
  assert.equal(new Set(shown).size, shown.length, 'an invoice shown twice');
  for (const id of state.invoices) assert.ok(shown.includes(id), `${id} is listed`);
  assert.deepEqual(shown.slice(0, PAGE + 1), [...state.invoices].reverse(), 'newest first');
  // every page read: the rest of the list, then no more button
  while ((await page.getByRole('button', { name: 'Load more invoices' }).count()) > 0) {
    const before = await rows.count();
    await page.getByRole('button', { name: 'Load more invoices' }).click();
    await page.waitForFunction((n) => document.querySelectorAll('tbody tr[data-invoice-id]').length > n || !document.querySelector('[aria-label="Load more invoices"]'), before);
  }
  const all = await ids();
  assert.equal(new Set(all).size, all.length, 'an invoice shown twice');
  assert.match(await page.getByTestId('shown-count').textContent(), new RegExp(`^All ${all.length} invoices shown$`));
  await ctx.close();
});

test('the payment form finds a client by search and takes the decimals of the currency', async () => {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  ctx.setDefaultTimeout(TIMEOUT);
  await ctx.addInitScript((t) => localStorage.setItem('wisp.operator', JSON.stringify({ token: t, expires_at: '', email: 'manager@demo.local' })), process.env.WISP_MANAGER_TOKEN);
  const page = await ctx.newPage();
  await page.goto(BASE + '/payments');
  await page.getByRole('button', { name: 'Register payment' }).click();
  const dialog = page.getByRole('dialog', { name: 'Register a payment' });
  await dialog.getByRole('textbox', { name: 'Client' }).fill(`pages-${RUN}`);
  await page.getByRole('option', { name: `pages-${RUN} — Paging test` }).click();
  const amount = dialog.getByLabel('Amount (USD)');
  await amount.fill('12.345'); // USD has 2 decimals
  assert.equal(await amount.inputValue(), '12.34');
  await dialog.getByLabel('Reference').fill(`e2e-pages-${RUN}`);
  await audit(page, 'payment form');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'detached' });
  const row = page.getByRole('table', { name: 'Payments and promises' }).locator('tbody tr', { hasText: `e2e-pages-${RUN}` });
  await row.waitFor();
  assert.match(await row.textContent(), /12\.34 USD/);
  await ctx.close();
});

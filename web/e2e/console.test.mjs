// End to end in headless Chromium against `make run`'s stack: the operator console and the subscriber pages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { api, audit, BASE, DESKTOP, launch, PHONE, radiusSession, shot } from './lib.mjs';

const OPERATOR = { email: 'manager@demo.local', password: process.env.WISP_DEMO_ADMIN_PASSWORD ?? 'admin-demo-123' };
const RUN = Date.now();
const USERNAME = `ana-${RUN.toString(36)}`;
const IP = `10.${20 + (RUN % 200)}.${(RUN >> 8) % 250}.${1 + ((RUN >> 16) % 250)}`;
const TIMEOUT = 20_000; // generous ceilings: 2 shared cores
const JOB_TIMEOUT = 120_000; // a background job: queued, picked up by the jobs worker, run page by page
const JOB_PREFIX = `job-${RUN.toString(36)}-`; // the filter (search) of the background-job steps: three subscribers

let browser;
let operator; // one signed-in operator page through the whole story
const state = {};

describe('operator console and subscriber pages', { concurrency: false }, () => {
  before(async () => {
    // A plan with allowances to show; online payments enabled so the portal reaches the payment step.
    // (The demo router's API is on, against the simulated router: router changes are pending tasks.)
    const policy = await api('POST', '/admin/policies', { code: `limits-${USERNAME}`, description: 'Daily and monthly limits', download_rate: 10_000_000, upload_rate: 2_000_000, daily_time_min: 240, monthly_data_mb: 50_000 });
    const product = await api('POST', '/admin/products', { name: `Plan 10M ${USERNAME}`, price: '25.00', policy_id: policy.id, connection_type: 'pppoe' });
    state.product = product;
    await api('PUT', '/admin/payment-settings', { enabled: true, provider: 'hosted', checkout_url: 'https://pay.example.test/checkout', merchant_id: 'demo-merchant' });
    browser = await launch();
    const ctx = await browser.newContext({ viewport: DESKTOP });
    ctx.setDefaultTimeout(TIMEOUT);
    operator = await ctx.newPage();
  });
  after(async () => {
    await browser?.close();
  });

  test('an e-mail locked by failed sign-ins is told when it can try again', async () => {
    await operator.goto(BASE + '/');
    await operator.getByRole('heading', { name: 'WispCloud console' }).waitFor();
    const locked = `locked-${RUN.toString(36)}@demo.local`;
    for (let i = 0; i < 10; i++) {
      const r = await fetch(BASE + '/admin/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: locked, password: 'wrong' }) });
      assert.equal(r.status, 401);
    }
    await operator.getByLabel('E-mail').fill(locked);
    await operator.getByLabel('Password').fill('wrong-again');
    await operator.getByRole('button', { name: 'Sign in' }).click();
    const alert = operator.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.textContent(), /try again later \(in (a minute|\d+ minutes)\)/);
  });

  test('an operator signs in', async () => {
    await operator.goto(BASE + '/');
    await operator.getByRole('heading', { name: 'WispCloud console' }).waitFor();
    await audit(operator, 'sign-in');
    await shot(operator, 'console-sign-in');
    await operator.getByLabel('E-mail').fill(OPERATOR.email);
    await operator.getByLabel('Password').fill(OPERATOR.password);
    await operator.getByRole('button', { name: 'Sign in' }).click();
    await operator.getByRole('table', { name: 'Subscribers' }).locator('tbody tr[data-status]').first().waitFor();
  });

  test('creates a subscriber and sees it in the coloured list and in the totals', async () => {
    const newCount = operator.getByTestId('total-new-count');
    await newCount.waitFor();
    const before = Number(await newCount.textContent());
    await operator.getByRole('button', { name: 'New subscriber' }).click();
    const form = operator.getByRole('form', { name: 'New subscriber' });
    await form.getByLabel('Login (username)').fill(USERNAME);
    await form.getByLabel('Name', { exact: true }).fill('Ana García');
    await form.getByLabel('Phone').fill('+52 55 1234 5678');
    await form.getByLabel('IP address').fill(IP);
    await form.getByRole('textbox', { name: 'Router' }).click();
    await operator.getByRole('option', { name: 'Demo router' }).click();
    await form.getByRole('textbox', { name: 'Plan' }).click();
    await operator.getByRole('option', { name: state.product.name }).click();
    await audit(operator, 'new subscriber form');
    await form.getByRole('button', { name: 'Create' }).click();
    await operator.getByTestId('new-password').or(form.getByRole('alert')).waitFor();
    assert.equal(await form.getByRole('alert').count(), 0, await form.getByRole('alert').textContent().catch(() => ''));
    const effect = operator.getByTestId('router-effect');
    assert.match(await effect.textContent(), /Router: queued/);
    await operator.getByRole('button', { name: 'Close', exact: true }).click();
    // the list and the totals are read again: one more New subscriber
    await operator.waitForFunction((n) => Number(document.querySelector('[data-testid="total-new-count"]')?.textContent) === n, before + 1, { timeout: TIMEOUT });
    await operator.getByLabel('Search').fill(USERNAME);
    const row = operator.locator(`tbody tr[data-status="new"]`, { hasText: USERNAME });
    await row.waitFor();
    // rows are coloured by status; the colour toggle turns it off
    const colored = await row.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.notEqual(colored, 'rgba(0, 0, 0, 0)');
    await operator.getByLabel('Colour rows by status').click();
    assert.equal(await row.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgba(0, 0, 0, 0)');
    await operator.getByLabel('Colour rows by status').click();
    await operator.getByLabel('Search').fill('');
    await operator.locator('tbody tr[data-status]').nth(1).waitFor();
    await audit(operator, 'subscriber list');
    await operator.getByLabel('Search').fill(USERNAME);
    await row.getByRole('link', { name: USERNAME, exact: true }).click();
    await operator.getByRole('tab', { name: 'Dashboard' }).waitFor();
    state.subscriberId = operator.url().split('/subscribers/')[1];
    assert.ok(state.subscriberId);
  });

  test('suspends it and sees the change made in the system and pending on the router', async () => {
    await operator.getByRole('button', { name: 'Suspend', exact: true }).click();
    const effect = operator.getByTestId('router-effect');
    await effect.waitFor();
    assert.equal(await effect.getAttribute('data-router-status'), 'queued');
    assert.match(await effect.textContent(), /Pending on router Demo router: provisioning task/);
    await operator.locator('h1 [data-status="suspended"]').waitFor();
    const sub = await api('GET', `/admin/subscribers/${state.subscriberId}`);
    assert.equal(sub.status, 'suspended');
    await audit(operator, 'subscriber page');
  });

  test('opens its connection log after a RADIUS session', async () => {
    radiusSession({ username: USERNAME, sessionId: `e2e-${USERNAME}`, ip: IP, mac: 'AA:BB:CC:DD:EE:01', inputOctets: 3_000_000, outputOctets: 12_000_000, seconds: 3725 });
    await operator.getByRole('tab', { name: 'Connection log' }).click();
    const log = operator.getByRole('table', { name: 'Connection log' });
    const row = log.locator('tbody tr', { hasText: `e2e-${USERNAME}` });
    await row.waitFor();
    const text = await row.textContent();
    assert.match(text, /1:02:05/); // duration h:m:s
    assert.match(text, /AA:BB:CC:DD:EE:01/);
    assert.match(text, /Demo router/);
    assert.match(text, /User-Request/);
    await audit(operator, 'connection log');
  });

  // the RADIUS session above used 1:02:05 of the plan's 4 hours a day
  test('a subscriber opens the auto-login link and sees the remaining allowances', async () => {
    await operator.getByRole('button', { name: 'More actions' }).click();
    await operator.getByRole('menuitem', { name: 'Auto-login link' }).click();
    await operator.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    const url = await operator.getByTestId('autologin-url').inputValue();
    assert.match(url, /\/my\/autologin\?token=/);
    await operator.keyboard.press('Escape');
    // an invoice to pay
    const inv = await api('POST', '/admin/invoices', { subscriber_id: state.subscriberId, kind: 'other', lines: [{ description: 'Installation', quantity: '1', unit_price: '40.00' }] });
    state.invoice = inv.invoice ?? inv;
    const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    ctx.setDefaultTimeout(TIMEOUT);
    const phone = await ctx.newPage();
    state.phone = phone;
    await phone.goto(url.replace(/^https?:\/\/[^/]+/, BASE));
    await phone.waitForURL(/\/my\/service$/);
    const daily = phone.getByTestId('allowance-daily-time');
    await daily.waitFor();
    assert.match(await daily.textContent(), /2:57:55 left of 4:00:00/);
    assert.match(await phone.getByTestId('allowance-monthly-data').textContent(), /left of 48\.8 GB/);
    assert.doesNotMatch(phone.url(), /token=/);
    await audit(phone, 'my service');
  });

  test('opens an invoice and reaches the payment step', async () => {
    const phone = state.phone;
    await phone.getByRole('link', { name: 'Invoices' }).click();
    await phone.getByTestId('portal-invoice').first().click();
    await phone.getByTestId('invoice-due').waitFor();
    assert.match(await phone.getByTestId('invoice-due').textContent(), /40\.00/);
    await audit(phone, 'invoice');
    await phone.getByRole('button', { name: /Pay 40\.00/ }).click();
    const checkout = phone.getByTestId('checkout');
    await checkout.waitFor();
    const href = await checkout.getByRole('link', { name: 'Continue to payment' }).getAttribute('href');
    assert.match(href, /^https:\/\/pay\.example\.test\/checkout/);
    await phone.context().close();
  });

  test('a contract is signed by link without signing in', async () => {
    const contract = await api('POST', `/admin/subscribers/${state.subscriberId}/contracts`, { content: 'Service contract\n\nMonthly fee: 25.00 USD. Minimum term: 12 months.', visible_to_customer: true });
    const link = await api('POST', `/admin/contracts/${contract.id}/signing-link`);
    assert.match(link.url, /\/my\/sign\?token=/);
    const ctx = await browser.newContext({ viewport: PHONE, isMobile: true, hasTouch: true });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    await page.goto(link.url.replace(/^https?:\/\/[^/]+/, BASE));
    await page.getByText('Minimum term: 12 months.').waitFor();
    await audit(page, 'contract signing');
    await page.getByLabel('Full name').fill('Ana García');
    await page.getByRole('button', { name: 'Sign the contract' }).click();
    await page.getByTestId('contract-signed').waitFor();
    await shot(page, 'portal-contract-signed-phone');
    const after = await api('GET', `/admin/contracts/${contract.id}`);
    assert.equal(after.signed, true);
    assert.equal(after.signature.typed_name ?? after.signature.name ?? 'Ana García', 'Ana García');
    await ctx.close();
  });

  test('a manager reverses part of a payment from the payments page and the invoice owes again', async () => {
    const reference = `e2e-rev-${RUN}`;
    await api('POST', '/admin/payments', { subscriber_id: state.subscriberId, amount: '40.00', method: 'transfer', reference, invoice_id: state.invoice.id, idempotency_key: `e2e-pay-${RUN}`, activate: false });
    await operator.goto(BASE + '/payments');
    const row = operator.getByRole('table', { name: 'Payments and promises' }).locator('tbody tr', { hasText: reference });
    await row.waitFor();
    await row.getByRole('button', { name: `Reverse payment ${reference}` }).click();
    const form = operator.getByRole('form', { name: 'Reverse a payment' });
    await form.getByText('40.00 can still be taken back').waitFor();
    await form.getByLabel('Amount to take back (empty: all that is left)').fill('15');
    await form.getByLabel('Reason').fill('Bank returned part of the transfer');
    await audit(operator, 'reverse payment');
    await form.getByRole('button', { name: 'Reverse' }).click();
    await form.waitFor({ state: 'detached' });
    await operator.waitForFunction((ref) => [...document.querySelectorAll('tbody tr')].some((tr) => tr.textContent.includes(ref) && tr.textContent.includes('15.00') && tr.textContent.includes('partially_reversed')), reference, { timeout: TIMEOUT });
    const invoice = await api('GET', `/admin/invoices/${state.invoice.path_id ?? state.invoice.id}`);
    assert.equal(invoice.status, 'partial');
    assert.equal(Number(invoice.due), 15);
  });

  test('exports the filtered list in the background and downloads the CSV file', async () => {
    for (const i of [1, 2, 3]) await api('POST', '/admin/subscribers', { username: `${JOB_PREFIX}${i}`, name: `Job test ${i}`, status: 'active', zone_id: 'zone_demo', product_id: 'prod_demo' });
    await operator.goto(BASE + '/');
    await operator.getByLabel('Search').fill(JOB_PREFIX);
    await operator.getByTestId('list-total').filter({ hasText: /^3 subscribers$/ }).waitFor();
    await operator.getByRole('button', { name: 'Export', exact: true }).click();
    await operator.getByRole('menuitem', { name: 'Export all matching (background)' }).click();
    await operator.getByRole('menu').waitFor({ state: 'detached' });
    const panel = operator.getByTestId('job-progress').filter({ hasText: 'Export to CSV' });
    await panel.waitFor();
    assert.match(await panel.textContent(), new RegExp(`search “${JOB_PREFIX}”`));
    await operator.locator('[data-testid="job-progress"][data-job-status="done"]', { hasText: 'Export to CSV' }).waitFor({ timeout: JOB_TIMEOUT });
    assert.equal(await panel.getByTestId('job-counts').textContent(), '3 rows');
    state.exportJob = await panel.getAttribute('data-job-id');
    // the link serves the file: the browser downloads it, with the synchronous export's header row
    const [file] = await Promise.all([operator.waitForEvent('download'), panel.getByTestId('job-download').click()]);
    assert.match(file.suggestedFilename(), /^subscribers-.*\.csv$/);
    const lines = readFileSync(await file.path(), 'utf8').replace(/^\uFEFF/, '').trim().split(/\r?\n/);
    const sync = await fetch(`${BASE}/admin/subscribers/export?${new URLSearchParams({ format: 'csv', q: JOB_PREFIX })}`, { headers: { Authorization: `Bearer ${process.env.WISP_MANAGER_TOKEN}` } });
    const header = (await sync.text()).replace(/^\uFEFF/, '').split(/\r?\n/)[0];
    assert.match(header, /username/);
    assert.equal(lines[0], header);
    state.exportHeader = header;
    assert.equal(lines.length, 4, lines.join('\n'));
    for (const i of [1, 2, 3]) assert.ok(lines.some((l) => l.includes(`${JOB_PREFIX}${i}`)), `${JOB_PREFIX}${i} in the file`);
    await audit(operator, 'subscriber list with a background export');
  });

  test('suspends every subscriber a filter matches with a background bulk job', async () => {
    await operator.getByRole('button', { name: 'Apply to all 3 matching' }).click();
    await operator.getByRole('menuitem', { name: 'Suspend', exact: true }).click();
    const form = operator.getByRole('form', { name: 'Suspend: all matching subscribers' });
    assert.match(await form.getByTestId('bulk-job-confirm').textContent(), new RegExp(`^Suspend all 3 subscribers that match the filters search “${JOB_PREFIX}”`));
    await operator.getByRole('menu').waitFor({ state: 'detached' }); // the menu's closing transition is over
    await audit(operator, 'bulk job confirmation');
    // the API's refusal is shown beside the field it names
    await form.getByLabel('Reason (optional)').fill('x'.repeat(201));
    await form.getByRole('button', { name: 'Suspend 3 subscribers' }).click();
    await form.getByRole('alert').waitFor();
    assert.match(await form.getByRole('alert').textContent(), /reason/);
    assert.equal(await form.getByLabel('Reason (optional)').getAttribute('aria-invalid'), 'true');
    await form.getByText('String should have at most 200 characters', { exact: true }).waitFor();
    await form.getByLabel('Reason (optional)').fill('Unpaid: background job');
    await form.getByRole('button', { name: 'Suspend 3 subscribers' }).click();
    await form.waitFor({ state: 'detached' });
    const panel = operator.getByTestId('job-progress').filter({ hasText: 'Suspend: all matching' });
    await panel.waitFor();
    await operator.locator('[data-testid="job-progress"][data-job-status="done"]', { hasText: 'Suspend: all matching' }).waitFor({ timeout: JOB_TIMEOUT });
    assert.equal(await panel.getByTestId('job-counts').textContent(), '3 done · 0 failed of 3');
    state.bulkJob = await panel.getAttribute('data-job-id');
    // the report: a line per subscriber
    const report = await fetch(await panel.getByTestId('job-download').getAttribute('href'));
    assert.equal(report.status, 200);
    const lines = (await report.text()).replace(/^\uFEFF/, '').trim().split(/\r?\n/);
    assert.match(lines[0], /^subscriber_id,ok,status,message/);
    assert.equal(lines.length, 4, lines.join('\n'));
    // the list is read again when the job is done: the three are suspended
    await operator.locator('tbody tr[data-status="suspended"]', { hasText: JOB_PREFIX }).nth(2).waitFor();
    const rows = await api('GET', `/admin/subscribers?${new URLSearchParams({ q: JOB_PREFIX })}`);
    assert.deepEqual(rows.items.map((r) => r.status), ['suspended', 'suspended', 'suspended']);
    await audit(operator, 'subscriber list after a bulk job');
  });

  test('the Jobs page lists both jobs with who started them and their files', async () => {
    // one more, started just before the page opens: the list is read again until it is done (no Refresh)
    const later = await api('POST', '/admin/subscribers/export-jobs', { q: JOB_PREFIX, sort: '-created_at', format: 'csv' });
    await operator.getByRole('navigation').getByRole('link', { name: 'Jobs', exact: true }).click();
    const table = operator.getByRole('table', { name: 'Jobs' });
    await table.locator(`tbody tr[data-job-id="${later.id}"][data-job-status="done"]`).waitFor({ timeout: JOB_TIMEOUT });
    const exportRow = table.locator(`tbody tr[data-job-id="${state.exportJob}"]`);
    const bulkRow = table.locator(`tbody tr[data-job-id="${state.bulkJob}"]`);
    await exportRow.waitFor();
    assert.equal(await exportRow.getAttribute('data-job-status'), 'done');
    assert.match(await exportRow.textContent(), /Export/);
    assert.match(await exportRow.textContent(), /3 rows/);
    assert.match(await exportRow.textContent(), /manager@demo\.local/);
    assert.match(await bulkRow.textContent(), /Suspend: all matching/);
    assert.match(await bulkRow.textContent(), /3 done · 0 failed of 3/);
    const href = await exportRow.getByTestId('job-download').getAttribute('href');
    const res = await fetch(href);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).replace(/^\uFEFF/, '').split(/\r?\n/)[0], state.exportHeader);
    await audit(operator, 'jobs page');
  });

  test('a manager connects Stripe for online payments: a key of the wrong mode is refused, the key is never shown again', async () => {
    await operator.getByRole('navigation').getByRole('link', { name: 'Online payments', exact: true }).click();
    await operator.getByRole('heading', { name: 'Online payments' }).waitFor();
    assert.equal(await operator.getByRole('switch', { name: /pay their invoices online/ }).isChecked(), true); // enabled in before()
    const stripe = operator.getByRole('region', { name: 'Stripe account' });
    await stripe.getByText('not connected').waitFor();
    const key = `sk_test_${RUN.toString(36)}wxyz`;
    // a test key in live mode is refused, with the field's reason
    await stripe.getByRole('textbox', { name: 'Mode' }).click();
    await operator.getByRole('option', { name: 'Live', exact: true }).click();
    await stripe.getByLabel('Secret key').fill(key);
    await stripe.getByRole('button', { name: 'Connect Stripe' }).click();
    await stripe.getByRole('alert').waitFor();
    assert.match(await stripe.getByRole('alert').textContent(), /live key starts with/);
    // in test mode it is stored: only its last characters show, and the webhook URL to enter at Stripe
    await stripe.getByRole('textbox', { name: 'Mode' }).click();
    await operator.getByRole('option', { name: 'Test', exact: true }).click();
    await stripe.getByLabel('Webhook signing secret').fill('whsec_e2e_secret_value');
    await stripe.getByRole('button', { name: 'Connect Stripe' }).click();
    await stripe.getByText('connected · test · key …wxyz').waitFor();
    assert.equal(await stripe.getByLabel('Secret key').inputValue(), '');
    assert.equal((await operator.content()).includes(key), false);
    assert.match(await operator.getByTestId('stripe-webhook-url').textContent(), /^https?:\/\/.+stripe/);
    const stored = await api('GET', '/admin/payment-settings');
    const account = stored.accounts.find((a) => a.provider === 'stripe');
    assert.equal(account.configured && account.key_hint === '…wxyz' && account.webhook_secret_set, true);
    await audit(operator, 'online payments');
    // disconnecting deletes the keys
    await stripe.getByRole('button', { name: 'Disconnect' }).click();
    await stripe.getByText('not connected').waitFor();
  });

  test('list filters and forms send only values the API accepts', async () => {
    // each choice must be answered 200 by the API (a value the API does not know is a 422)
    async function choose(name, option, urlPart) {
      const answer = operator.waitForResponse((r) => r.url().includes(urlPart));
      await operator.getByRole('textbox', { name, exact: true }).click();
      await operator.getByRole('option', { name: option, exact: true }).click();
      const r = await answer;
      assert.equal(r.status(), 200, `${urlPart}: ${await r.text()}`);
    }
    await operator.goto(BASE + '/tasks');
    await operator.getByRole('heading', { name: 'Router tasks' }).waitFor();
    await choose('Status', 'Queued', 'status=queued');
    await choose('Status', 'Succeeded', 'status=succeeded');
    await choose('Status', 'Dead (gave up)', 'status=dead');
    await operator.goto(BASE + '/invoices');
    await operator.getByRole('heading', { name: 'Invoices' }).waitFor();
    await choose('Status', 'Unpaid', 'status=pending');
    await choose('Status', 'Partly paid', 'status=partial');
    await operator.goto(BASE + '/api-keys');
    await operator.getByRole('heading', { name: 'API keys' }).waitFor();
    await operator.getByLabel('Name').fill(`reports-${USERNAME}`);
    await operator.getByRole('textbox', { name: 'Role', exact: true }).click();
    await operator.getByRole('option', { name: 'Read only', exact: true }).click();
    const created = operator.waitForResponse((r) => r.url().endsWith('/admin/api-keys') && r.request().method() === 'POST');
    await operator.getByRole('button', { name: 'Create key' }).click();
    const r = await created;
    assert.ok(r.status() === 200 || r.status() === 201, `api key: ${r.status()} ${await r.text()}`);
    assert.equal((await r.json()).role, 'read_only');
  });

  test('keyboard: the sign-in form works with the keyboard alone', async () => {
    const ctx = await browser.newContext({ viewport: DESKTOP });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    await page.goto(BASE + '/');
    await page.getByLabel('E-mail').waitFor();
    const active = () => page.evaluate(() => document.activeElement?.getAttribute('type') ?? document.activeElement?.tagName);
    await page.keyboard.press('Tab');
    assert.equal(await active(), 'email');
    await page.keyboard.type(OPERATOR.email);
    await page.keyboard.press('Tab');
    assert.equal(await active(), 'password');
    await page.keyboard.type(OPERATOR.password);
    await page.keyboard.press('Enter');
    await page.getByRole('table', { name: 'Subscribers' }).waitFor();
    // the first link of the main navigation takes the focus from the keyboard too
    await page.getByRole('link', { name: 'Online', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Online/ }).waitFor();
    await audit(page, 'online list');
    await ctx.close();
  });
});

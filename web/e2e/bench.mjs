// Time to first render of the subscriber list (first page of rows on screen) in headless Chromium.
// Prints one JSON object: per cold load (new browser context, empty cache) and warm reload.
import { BASE, DESKTOP, launch } from './lib.mjs';

const runs = Number(process.env.WISP_BENCH_RUNS ?? 5);
const token = process.env.WISP_MANAGER_TOKEN;
const browser = await launch();
const cold = [];
const warm = [];
let resources = [];
let rows = 0;
let total = '';
async function firstRender(page) {
  await page.locator('tbody tr[data-status]').nth(49).waitFor({ timeout: 60_000 });
  return Math.round(await page.evaluate(() => performance.now())); // ms since the navigation started
}
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  await ctx.addInitScript((t) => localStorage.setItem('wisp.operator', JSON.stringify({ token: t, expires_at: '', email: 'bench' })), token);
  const page = await ctx.newPage();
  await page.goto(BASE + '/', { waitUntil: 'commit' });
  cold.push(await firstRender(page));
  resources = await page.evaluate(() =>
    performance.getEntriesByType('resource').filter((r) => /\/assets\//.test(r.name)).map((r) => ({ name: new URL(r.name).pathname, bytes: r.encodedBodySize })),
  );
  rows = await page.locator('tbody tr[data-status]').count();
  total = (await page.getByTestId('list-total').textContent()) ?? '';
  await page.reload({ waitUntil: 'commit' });
  warm.push(await firstRender(page));
  await ctx.close();
}
await browser.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({ cold_ms: cold, warm_ms: warm, cold_median_ms: median(cold), warm_median_ms: median(warm), rows_rendered: rows, list_total: total, resources }));

// Shared by the browser tests and the benchmark: Debian's chromium through playwright-core, the API, RADIUS.
import AxeBuilder from '@axe-core/playwright';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.WISP_BASE_URL ?? 'http://127.0.0.1:8000';
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run'],
  });
}

/** Call the API as the operator whose token the stack printed. */
export async function api(method, url, body, token = process.env.WISP_MANAGER_TOKEN) {
  const res = await fetch(BASE + url, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status}: ${text}`);
  return data;
}

/** Accessibility audit (WCAG 2 A/AA rules of axe-core): fails on any violation, naming rule and nodes. */
export async function audit(page, where) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
  const problems = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ' ' + n.html.slice(0, 120) + ' ' + (n.any[0]?.message ?? '')).join(' | ')}`);
  if (problems.length) throw new Error(`accessibility problems on ${where}:\n  ${problems.join('\n  ')}`);
  return result.passes.length;
}

/** One RADIUS accounting session (Start then Stop) through radclient, as a router would send it. */
export function radiusSession({ username, sessionId, ip, mac, inputOctets, outputOctets, seconds }) {
  const port = process.env.WISP_RADIUS_ACCT_PORT;
  const secret = process.env.WISP_RADIUS_SECRET ?? 'testing123';
  const send = (attrs) =>
    execFileSync('radclient', ['-r', '3', '-t', '5', `127.0.0.1:${port}`, 'acct', secret], { input: attrs.join('\n') + '\n', encoding: 'utf8' });
  const common = [`User-Name = "${username}"`, `Acct-Session-Id = "${sessionId}"`, 'NAS-IP-Address = 127.0.0.1', `Framed-IP-Address = ${ip}`, `Calling-Station-Id = "${mac}"`];
  const a = send(['Acct-Status-Type = Start', ...common]);
  const b = send([
    'Acct-Status-Type = Stop',
    ...common,
    `Acct-Input-Octets = ${inputOctets}`,
    `Acct-Output-Octets = ${outputOctets}`,
    `Acct-Session-Time = ${seconds}`,
    'Acct-Terminate-Cause = User-Request',
  ]);
  if (!a.includes('Accounting-Response') || !b.includes('Accounting-Response')) throw new Error(`no accounting response: ${a} ${b}`);
}

/** Screenshots for the README when WISP_SCREENSHOTS names a folder (`make screenshots`). */
export async function shot(page, name) {
  const dir = process.env.WISP_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}

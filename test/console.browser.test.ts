// The console in a real browser (Debian's chromium through puppeteer-core) against a real
// frs-meter, emulator and Postgres: traffic from two apps in May 2025, a billing sync, then every
// page is opened the way finance would open it. Each page must load with no console error and no
// failed request, show the numbers the admin API answers for the same month (and the hand-worked
// numbers below), offer CSV links that download exactly `?format=csv`, and leave a non-blank
// screenshot in test/artifacts/. Without a valid session nothing opens; a session never changes.


import * as path from 'node:path';
import { request } from 'undici';
import type { Browser, Page } from 'puppeteer-core';
import type { Json } from './ops/queries';
import { ManualClock } from '../src/common/clock';
import { pathFor } from '../src/frs/operations';
import { BssPlugin, bssPlugin } from '../src/emulator/bss/bss-plugin';
import { ADMIN_TOKEN, Stack, StackApp, startStack } from './support/stack';
import { browserPolicy, cells, fetchInPage, launchBrowser, logIn as logInAt, nonBlankScreenshot, watchedPage as watched } from './support/browser';

const describeBrowser = browserPolicy('console.browser') ? describe : describe.skip;
const ARTIFACTS = path.join(__dirname, 'artifacts');
const READONLY_TOKEN = 'finance-readonly-token-0001';
const MONTH = '2025-05';
const IMAGE = Buffer.alloc(1024, 3).toString('base64');
const BODY = {
  face_detect: JSON.stringify({ image_base64: IMAGE }),
  face_compare: JSON.stringify({ image1_base64: IMAGE, image2_base64: IMAGE }),
};

let stack: Stack;
let bss: BssPlugin;
let appB: StackApp;
let browser: Browser;
const watchedPage = (): ReturnType<typeof watched> => watched(browser);
const logIn = (page: Page, token: string): Promise<void> => logInAt(page, stack.meterUrl, token);
const screenshot = (page: Page, name: string): Promise<number> => nonBlankScreenshot(browser, page, path.join(ARTIFACTS, `${name}.png`));
const logs: string[] = [];
const clock = new ManualClock('2025-05-10T12:00:00+08:00');

async function viaProxy(apiKey: string, op: keyof typeof BODY, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(`${stack.meterUrl}${pathFor(op, stack.projectId)}`, {
      method: 'POST',
      headers: { 'x-auth-token': apiKey, 'content-type': 'application/json' },
      body: BODY[op],
    });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${op} answered ${res.statusCode}`);
  }
}

async function admin(method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown): Promise<{ status: number; text: string; json: Json }> {
  const res = await request(`${stack.meterUrl}${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: String(res.headers['content-type']).includes('json') ? JSON.parse(text) : undefined };
}

describeBrowser('the console in chromium', () => {
  beforeAll(async () => {
    bss = bssPlugin({ freeCalls: 1 });
    stack = await startStack({
      clock,
      emulator: { plugins: [bss] },
      env: { FRS_METER_READONLY_TOKENS: READONLY_TOKEN, FRS_METER_FREE_TIER_CALLS: '1' },
      logger: {
        log: (m: unknown) => void logs.push(String(m)),
        error: (m: unknown) => void logs.push(String(m)),
        warn: (m: unknown) => void logs.push(String(m)),
        debug: (m: unknown) => void logs.push(String(m)),
        verbose: (m: unknown) => void logs.push(String(m)),
      },
    });
    appB = await stack.createApp('app-b');
    await viaProxy(stack.apiKey, 'face_detect', 3);
    await viaProxy(appB.api_key, 'face_detect', 2);
    await viaProxy(stack.apiKey, 'face_compare', 1);
    await viaProxy(appB.api_key, 'face_compare', 2);
    const synced = await admin('POST', '/admin/billing/sync', { month: MONTH });
    if (synced.status !== 200) throw new Error(`billing sync failed: ${synced.text}`);
    const budget = await admin('PUT', '/admin/apps/app-b/budget', { monthly_calls: 10, action: 'alert_only' });
    if (budget.status !== 200) throw new Error(`budget failed: ${budget.text}`);
    browser = await launchBrowser();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('without a session every page sends the browser to the login form, and the data endpoints answer 401', async () => {
    const { page, problems } = await watchedPage();
    for (const p of ['/console', '/console/month', `/console/reconciliation?month=${MONTH}`, '/console/apps', '/console/packages', '/console/audit']) {
      await page.goto(`${stack.meterUrl}${p}`);
      expect({ p, url: new URL(page.url()).pathname }).toEqual({ p, url: '/console/login' });
    }
    expect(problems).toEqual([]);
    const data = await fetch(`${stack.meterUrl}/console/data/calls-per-minute`);
    expect(data.status).toBe(401);
    expect(await data.json()).toMatchObject({ error_code: 'METER.0401' });
    // A forged cookie (right shape, wrong signature) is no session either.
    const forged = await fetch(`${stack.meterUrl}/console/data/calls-per-minute`, { headers: { cookie: 'frs_console=v1.admin.0123456789abcdef.9999999999.AAAA' } });
    expect(forged.status).toBe(401);
    await page.close();
  });

  test('a wrong token gets the login page again, with no cookie', async () => {
    const { page } = await watchedPage();
    await logIn(page, 'not-the-token-at-all');
    expect(new URL(page.url()).pathname).toBe('/console/login');
    expect(await page.$eval('.error', (e) => e.textContent)).toMatch(/not valid/);
    expect(await page.cookies()).toEqual([]);
    await page.goto(`${stack.meterUrl}/console/month`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.close();
  });

  describe('logged in with the read-only token', () => {
    let page: Page;
    let problems: string[];

    beforeAll(async () => {
      ({ page, problems } = await watchedPage());
      await logIn(page, READONLY_TOKEN);
    });
    afterAll(async () => page?.close());
    afterEach(() => {
      expect(problems).toEqual([]);
      problems.length = 0;
    });

    test('the session cookie is HttpOnly, SameSite=Strict, expiring, and holds no token', async () => {
      expect(new URL(page.url()).pathname).toBe('/console/month');
      const [cookie] = await page.cookies();
      expect(cookie).toMatchObject({ name: 'frs_console', httpOnly: true, sameSite: 'Strict', secure: false, path: '/' });
      expect(cookie.expires).toBeGreaterThan(Date.now() / 1000);
      expect(cookie.value).toMatch(/^v1\.readonly\.[0-9a-f]{16}\.\d+\./);
      expect(cookie.value).not.toContain(READONLY_TOKEN);
      expect(await page.evaluate(() => document.cookie)).toBe('');
    });

    test('This month: billable calls, free calls left and the 24 h chart, as GET /admin/usage answers them', async () => {
      await page.goto(`${stack.meterUrl}/console/month?month=${MONTH}`);
      await page.waitForSelector('#calls-chart[data-drawn]');
      const usage = (await admin('GET', `/admin/usage?month=${MONTH}`)).json;
      const top = await cells(page, null);
      // 3 + 2 face_detect and 1 + 2 face_compare, all answered 200: 8 billable calls.
      expect(top['totals.billable_calls']).toBe('8');
      expect(top['totals.billable_calls']).toBe(String(usage.totals.billable_calls));
      expect(top['totals.requests']).toBe(String(usage.totals.requests));
      const detect = await cells(page, 'face_detect');
      // One free call for the account (FRS_METER_FREE_TIER_CALLS=1, the default per-account pool), used by the first face_detect.
      expect(detect).toMatchObject({ billable_calls: '5', free_calls_used: '1', free_calls_left: '0' });
      // The page says the free calls are one pool, and its size, so "left" on every row is not read as per operation.
      expect(usage.free_tier).toMatchObject({ scope: 'per_account', calls: 1 });
      expect(await page.$eval('#free-tier-scope', (e) => e.textContent)).toContain('one pool of 1 a month for the whole account');
      const op = usage.operations.find((o: { operation: string }) => o.operation === 'face_detect');
      expect(detect).toMatchObject({ billable_calls: String(op.billable_calls), free_calls_left: String(op.free_calls_left) });
      // The month-end forecast, as GET /admin/forecast answers it (no price table here: calls only).
      const forecast = (await admin('GET', `/admin/forecast?month=${MONTH}`)).json;
      const fd = forecast.operations.find((o: { operation: string }) => o.operation === 'face_detect');
      expect(detect['forecast.calls']).toBe(String(fd.calls.p50));
      expect(Number(detect['forecast.calls'])).toBeGreaterThanOrEqual(5);
      expect(top['forecast.amount']).toBe(forecast.amount === null ? '' : String(forecast.amount.p50));
      // The chart: 1440 minutes, 8 billable calls in them (the clock is frozen near 2025-05-10 12:00).
      expect(await page.$eval('#calls-chart', (e) => e.getAttribute('data-drawn'))).toBe('1440');
      const series = JSON.parse((await fetchInPage(page, '/console/data/calls-per-minute')).text);
      expect(series.billable.reduce((a: number, b: number) => a + b, 0)).toBe(8);
      expect(await page.$('#calls-chart canvas')).not.toBeNull();
      expect(await screenshot(page, 'console-month')).toBeGreaterThan(10_000);
    });

    test('Reconciliation: status, totals, differences, unattributed amount and per-app shares equal GET /admin/reconciliation/{month}', async () => {
      await page.goto(`${stack.meterUrl}/console/reconciliation?month=${MONTH}`);
      const rec = (await admin('GET', `/admin/reconciliation/${MONTH}`)).json;
      const top = await cells(page, null);
      const s = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
      expect(top).toMatchObject({
        status: rec.status,
        bill_total: s(rec.bill_total),
        'totals.metered_calls': s(rec.totals.metered_calls),
        'totals.billed_calls': s(rec.totals.billed_calls),
        'totals.difference_calls': s(rec.totals.difference_calls),
        unattributed_amount: s(rec.unattributed_amount),
      });
      // Hand-worked: 8 metered, all 8 billed by the emulator's BSS, no difference.
      expect(top).toMatchObject({ status: 'provisional', 'totals.metered_calls': '8', 'totals.billed_calls': '8', 'totals.difference_calls': '0' });
      for (const o of rec.operations) {
        const row = await cells(page, o.operation);
        expect(row).toMatchObject({ metered_calls: s(o.metered_calls), billed_calls: s(o.billed_calls), difference_calls: s(o.difference_calls), billed_amount: s(o.billed_amount), difference_amount: s(o.difference_amount) });
        const causes = await page.$$eval(`[data-row="${o.operation}"] [data-k="cause"]`, (els) => els.map((e) => e.getAttribute('data-v')));
        expect(causes).toEqual(o.causes.map((c: { code: string }) => c.code));
      }
      // test-app 3 + 1, app-b 2 + 2 valid calls: half each.
      expect(rec.apps.map((a: { app: string; share_of_calls: string }) => [a.app, a.share_of_calls])).toEqual([
        ['app-b', '0.5000'],
        ['test-app', '0.5000'],
      ]);
      for (const a of rec.apps) {
        expect(await cells(page, a.app)).toMatchObject({ billable_calls: s(a.billable_calls), share_of_calls: s(a.share_of_calls), share_amount: s(a.share_amount), other_amount: s(a.other_amount) });
      }
      expect(await screenshot(page, 'console-reconciliation')).toBeGreaterThan(10_000);
    });

    test('the CSV links download exactly what ?format=csv answers', async () => {
      await page.goto(`${stack.meterUrl}/console/reconciliation?month=${MONTH}`);
      const links = await page.$$eval('a.csv', (as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href') as string));
      expect(links).toEqual([`/admin/reconciliation/${MONTH}?format=csv&table=operations`, `/admin/reconciliation/${MONTH}?format=csv&table=apps`]);
      for (const href of links) {
        const fromPage = await fetchInPage(page, href);
        const fromApi = await admin('GET', href);
        expect(fromPage.status).toBe(200);
        expect(fromPage.text).toBe(fromApi.text);
        expect(fromPage.text.split('\r\n').length).toBeGreaterThan(2);
      }
      await page.goto(`${stack.meterUrl}/console/apps?month=${MONTH}`);
      const appLinks = await page.$$eval('a.csv', (as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href') as string));
      expect(appLinks).toContain(`/admin/usage?month=${MONTH}&app=app-b&table=apps&format=csv`);
      for (const href of appLinks) expect((await fetchInPage(page, href)).text).toBe((await admin('GET', href)).text);
    });

    test('Apps: calls per app and the reconciliation share', async () => {
      await page.goto(`${stack.meterUrl}/console/apps?month=${MONTH}`);
      const usage = (await admin('GET', `/admin/usage?month=${MONTH}`)).json;
      const rec = (await admin('GET', `/admin/reconciliation/${MONTH}`)).json;
      for (const a of usage.apps) {
        const share = rec.apps.find((x: { app: string }) => x.app === a.app);
        expect(await cells(page, a.app)).toMatchObject({ requests: String(a.requests), billable_calls: String(a.billable_calls), share_of_calls: share.share_of_calls });
      }
      // app-b: 2 face_detect + 2 face_compare of its 10-call budget; test-app has none.
      const budget = (await admin('GET', '/admin/apps/app-b/budget')).json;
      expect(await cells(page, 'app-b')).toMatchObject({ billable_calls: '4', budget: `${budget.used_calls}/10//` });
      expect(budget.used_calls).toBe(4);
      expect(await cells(page, 'test-app')).toMatchObject({ budget: '' });
      expect(await screenshot(page, 'console-apps')).toBeGreaterThan(10_000);
    });

    test('Packages and Audit load; the audit page lists the app the test created', async () => {
      await page.goto(`${stack.meterUrl}/console/packages`);
      const qps = (await admin('GET', '/admin/qps-packages')).json.qps_packages;
      expect(await cells(page, 'face_detect')).toMatchObject({ quota: String(qps.find((q: { operation: string }) => q.operation === 'face_detect').quota) });
      expect(await screenshot(page, 'console-packages')).toBeGreaterThan(5_000);
      await page.goto(`${stack.meterUrl}/console/audit`);
      const actions = await page.$$eval('[data-k="action"]', (els) => els.map((e) => e.getAttribute('data-v')));
      const audit = (await admin('GET', '/admin/audit')).json.entries.map((e: { action: string }) => e.action);
      expect(actions).toEqual(audit.slice(0, 200));
      expect(actions).toContain('app.create');
      expect(await screenshot(page, 'console-audit')).toBeGreaterThan(5_000);
    });

    test('a bad month is a clear 400 page, not an error in the log', async () => {
      const res = await page.goto(`${stack.meterUrl}/console/reconciliation?month=2025-13`);
      expect(res?.status()).toBe(400);
      expect(await page.$eval('.error', (e) => e.textContent)).toMatch(/Not a month/);
      problems.length = 0; // the 400 itself is the expected answer
    });

    test('the session cannot change anything, through the admin API or the console', async () => {
      const before = (await admin('GET', '/admin/apps')).json;
      const tries = [
        await fetchInPage(page, '/admin/apps', { method: 'POST', body: JSON.stringify({ name: 'from-the-browser' }) }),
        await fetchInPage(page, '/admin/apps/app-b', { method: 'DELETE' }),
        await fetchInPage(page, '/admin/qps-packages/face_detect', { method: 'PUT', body: JSON.stringify({ qps: 50, expires_at: '2026-01-01T00:00:00Z' }) }),
        await fetchInPage(page, '/admin/billing/sync', { method: 'POST', body: JSON.stringify({ month: MONTH }) }),
        await fetchInPage(page, '/console/month', { method: 'POST', body: '{}' }),
      ];
      expect(tries.map((t) => t.status)).toEqual([403, 403, 403, 403, 404]);
      expect((await admin('GET', '/admin/apps')).json).toEqual(before);
      problems.length = 0; // the refusals above are the point
    });

    test('logging out ends the session', async () => {
      await page.goto(`${stack.meterUrl}/console/packages`);
      await Promise.all([page.waitForNavigation(), page.click('form.logout button')]);
      expect(new URL(page.url()).pathname).toBe('/console/login');
      expect(await page.cookies()).toEqual([]);
      expect((await fetchInPage(page, '/console/data/calls-per-minute')).status).toBe(401);
      problems.length = 0;
    });
  });

  test('an admin-token session is read-only too, and expires after 8 hours', async () => {
    const { page } = await watchedPage();
    await logIn(page, ADMIN_TOKEN);
    expect(new URL(page.url()).pathname).toBe('/console/month');
    expect((await fetchInPage(page, '/admin/apps', { method: 'POST', body: JSON.stringify({ name: 'x-admin-session' }) })).status).toBe(403);
    clock.set(clock.now() + 8 * 3600 * 1000 + 1000);
    await page.goto(`${stack.meterUrl}/console/month`);
    expect(new URL(page.url()).pathname).toBe('/console/login');
    await page.close();
  });

  test('behind an HTTPS proxy the cookie is Secure; no token ever reaches the log', async () => {
    const res = await fetch(`${stack.meterUrl}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' },
      body: `token=${READONLY_TOKEN}`,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('set-cookie')).toMatch(/; Secure/);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((l) => l.includes(READONLY_TOKEN) || l.includes(ADMIN_TOKEN))).toEqual([]);
  });
});

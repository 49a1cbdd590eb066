// `npm run demo` as a new user runs it (a child process, no terminal), then its console in
// chromium with the read-only token it prints: the reconciliation page shows the same totals,
// differences and per-app shares as GET /admin/reconciliation/{month}, and its CSV links
// download exactly `?format=csv`. The demo's traffic is random, so the comparison is with the
// JSON endpoint; test/console.browser.test.ts checks hand-worked numbers.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { createTestDatabase } from './support/db';
import { DemoRun, startDemo } from './support/demo-run';
import { browserPolicy, cells, fetchInPage, launchBrowser, logIn, watchedPage } from './support/browser';

const describeBrowser = browserPolicy('console.demo') ? describe : describe.skip;

describeBrowser('the demo, looked at in the console', () => {
  let demo: DemoRun;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    const db = await createTestDatabase('demo');
    demo = await startDemo({ DATABASE_URL: db.url, DEMO_SECONDS: '4', FRS_METER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'frs-meter-demo-')) });
    browser = await launchBrowser();
    ({ page, problems } = await watchedPage(browser));
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const admin = async (p: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${demo.base}${p}`, { headers: { authorization: `Bearer ${demo.adminToken}` } });
    return { status: res.status, text: await res.text() };
  };

  test('without a terminal the progress display prints whole lines, and the demo keeps running', () => {
    const out = demo.output();
    expect(out).not.toContain('\r');
    expect(out).toMatch(/^ {2}traffic +\d+\/4s +sent +\d+/m);
    expect(out).toContain('press Ctrl-C to stop');
  });

  test('the read-only token it prints opens the console; the reconciliation page equals the JSON endpoint', async () => {
    await logIn(page, demo.base, demo.readonlyToken);
    expect(new URL(page.url()).pathname).toBe('/console/month');
    const month = await page.$eval('#month', (e) => (e as HTMLInputElement).value);
    expect(month).toMatch(/^\d{4}-\d{2}$/);
    await page.goto(`${demo.base}/console/reconciliation?month=${month}`);
    const rec = JSON.parse((await admin(`/admin/reconciliation/${month}`)).text);
    const s = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
    expect(await cells(page, null)).toMatchObject({
      status: rec.status,
      bill_total: s(rec.bill_total),
      'totals.metered_calls': s(rec.totals.metered_calls),
      'totals.billed_calls': s(rec.totals.billed_calls),
      'totals.difference_calls': s(rec.totals.difference_calls),
      unattributed_amount: s(rec.unattributed_amount),
    });
    // The demo synced its bill: the month has metered and billed calls, and three apps share them.
    expect(rec.totals.metered_calls).toBeGreaterThan(0);
    expect(rec.apps.map((a: { app: string }) => a.app)).toEqual(['checkout', 'demo-app', 'support-desk']);
    for (const o of rec.operations) {
      expect(await cells(page, o.operation)).toMatchObject({ metered_calls: s(o.metered_calls), billed_calls: s(o.billed_calls), difference_calls: s(o.difference_calls), billed_amount: s(o.billed_amount) });
    }
    for (const a of rec.apps) {
      expect(await cells(page, a.app)).toMatchObject({ billable_calls: s(a.billable_calls), share_of_calls: s(a.share_of_calls), share_amount: s(a.share_amount) });
    }
    for (const table of ['operations', 'apps']) {
      const href = `/admin/reconciliation/${month}?format=csv&table=${table}`;
      expect(await page.$(`a.csv[href="${href}"]`)).not.toBeNull();
      expect((await fetchInPage(page, href)).text).toBe((await admin(href)).text);
    }
    expect(problems).toEqual([]);
  });
});

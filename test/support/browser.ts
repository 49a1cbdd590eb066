// Driving Debian's chromium with puppeteer-core for the console tests (no browser download).

/// <reference lib="dom" />

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import puppeteer, { Browser, Page } from 'puppeteer-core';

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** True when the suite should run: chromium is there, or CI=true (then a missing one fails the suite). */
export function browserPolicy(suite: string): boolean {
  if (existsSync(CHROMIUM) || process.env.CI === 'true') return true;
  console.warn(`[${suite}] SKIPPED: no chromium at ${CHROMIUM} (set CHROMIUM_BIN, or run bash scripts/ci-chromium.sh); with CI=true this suite fails instead.`);
  return false;
}

export function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`CI=true but no chromium at ${CHROMIUM}: run bash scripts/ci-chromium.sh before the tests (it installs Debian's chromium)`);
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
}

/** A browser page that records console errors, page errors, failed requests and 4xx/5xx answers. */
export async function watchedPage(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  return { page, problems };
}

export async function logIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/console/login`);
  await page.type('#token', token);
  await Promise.all([page.waitForNavigation(), page.click('form[action="/console/login"] button')]);
}

/** `data-k` → `data-v` of the cells in the row `data-row=row` (or outside any row when row is null). */
export async function cells(page: Page, row: string | null): Promise<Record<string, string>> {
  return page.$$eval(
    '[data-k]',
    (els, r) => {
      const out: Record<string, string> = {};
      for (const el of els) {
        const tr = el.closest('[data-row]');
        const inRow = tr ? tr.getAttribute('data-row') : null;
        if (inRow === r) out[el.getAttribute('data-k') as string] = el.getAttribute('data-v') ?? '';
      }
      return out;
    },
    row,
  );
}

/** Writes a PNG screenshot to `file` and returns how many of its pixels differ from the top-left one. */
export async function nonBlankScreenshot(browser: Browser, page: Page, file: string, fullPage = true): Promise<number> {
  mkdirSync(path.dirname(file), { recursive: true });
  const png = Buffer.from(await page.screenshot({ type: 'png', fullPage }));
  writeFileSync(file, png);
  const blank = await browser.newPage();
  try {
    return await blank.evaluate(async (b64: string) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext('2d') as CanvasRenderingContext2D;
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let differing = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) differing++;
      return differing;
    }, png.toString('base64'));
  } finally {
    await blank.close();
  }
}

/** A same-origin request from inside the page, so it carries the page's session cookie. */
export async function fetchInPage(page: Page, url: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; text: string }> {
  return page.evaluate(
    async (u: string, i: { method?: string; body?: string }) => {
      const res = await fetch(u, { method: i.method ?? 'GET', body: i.body, headers: i.body ? { 'content-type': 'application/json' } : {} });
      return { status: res.status, text: await res.text() };
    },
    url,
    init,
  );
}

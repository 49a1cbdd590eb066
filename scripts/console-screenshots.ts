// Rewrites the README's console screenshots (docs/console-*.png) from a real `npm run demo`:
// starts the demo, logs in with the read-only token it prints, and photographs each page in
// Debian's chromium (CHROMIUM_BIN overrides /usr/bin/chromium).
//
//   npx ts-node --transpile-only scripts/console-screenshots.ts

import { statSync } from 'node:fs';
import * as path from 'node:path';
import { startDemo } from '../test/support/demo-run';
import { launchBrowser, logIn, nonBlankScreenshot, watchedPage } from '../test/support/browser';

const DOCS = path.join(__dirname, '..', 'docs');

async function main(): Promise<void> {
  // The demo's own embedded Postgres (.frs-meter/demo, emptied first), never a DATABASE_URL.
  const demo = await startDemo({ DEMO_SECONDS: process.env.DEMO_SECONDS ?? '12', DATABASE_URL: '' });
  const browser = await launchBrowser();
  try {
    const { page, problems } = await watchedPage(browser, { width: 1120, height: 760 });
    await logIn(page, demo.base, demo.readonlyToken);
    for (const [name, p] of [['month', '/console/month'], ['apps', '/console/apps'], ['reconciliation', '/console/reconciliation'], ['packages', '/console/packages']]) {
      await page.goto(`${demo.base}${p}`);
      if (name === 'month') await page.waitForSelector('#calls-chart[data-drawn]');
      const file = path.join(DOCS, `console-${name}.png`);
      const differing = await nonBlankScreenshot(browser, page, file, false);
      console.log(`wrote ${path.relative(process.cwd(), file)} (${statSync(file).size} bytes, ${differing} non-background pixels)`);
    }
    if (problems.length) throw new Error(`the pages had problems:\n${problems.join('\n')}`);
  } finally {
    await browser.close();
    await demo.stop();
  }
}

main().catch((err) => {
  console.error(`console-screenshots failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});

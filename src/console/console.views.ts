// The console's templates (Eta, auto-escaping): src/console/views/*.eta, compiled once and cached.
// They live in src/ because the image ships src/ beside dist/ (see Dockerfile).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Eta } from 'eta';

/** src/console, whether this runs from src/ (ts-node) or dist/src/ (the build). */
export const CONSOLE_DIR = existsSync(join(__dirname, 'views')) ? __dirname : join(__dirname, '..', '..', '..', 'src', 'console');

const numberFormat = new Intl.NumberFormat('en-US');

/** Helpers every template gets: thousands separators, percentages. */
const helpers = {
  n: (v: number): string => numberFormat.format(v),
  pct: (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '—'),
};

export class ConsoleViews {
  private readonly eta = new Eta({ views: join(CONSOLE_DIR, 'views'), cache: true, autoEscape: true, autoTrim: false });

  render(page: string, data: Record<string, unknown>): string {
    return this.eta.render(page, { ...helpers, ...data });
  }
}

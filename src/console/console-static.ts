// The console's static files: its stylesheet and script, and uPlot from its npm package (no CDN).
// Read once at start; served with a long cache lifetime keyed by the package version.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CONSOLE_DIR } from './console.views';

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
}

export function loadStaticFiles(): ReadonlyMap<string, StaticFile> {
  const uplot = dirname(require.resolve('uplot/package.json'));
  const files: [string, string, string][] = [
    ['console.css', join(CONSOLE_DIR, 'static', 'console.css'), 'text/css; charset=utf-8'],
    ['console.js', join(CONSOLE_DIR, 'static', 'console.js'), 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', join(uplot, 'dist', 'uPlot.min.css'), 'text/css; charset=utf-8'],
    ['uPlot.iife.min.js', join(uplot, 'dist', 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  ];
  return new Map(files.map(([name, path, type]) => [name, { body: readFileSync(path), type }]));
}

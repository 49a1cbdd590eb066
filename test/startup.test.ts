// `npm start` with bad configuration stops before doing anything, naming the variable.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

function start(env: Record<string, string>) {
  return spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('start-up', () => {
  it('refuses to start without FRS_ENDPOINT and says so', () => {
    const r = start({ HUAWEICLOUD_SDK_AK: 'AK', HUAWEICLOUD_SDK_SK: 'SK', FRS_METER_SECRET_KEY: '0123456789abcdef' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('FRS_ENDPOINT is required');
    expect(r.stdout).not.toContain('listening');
  });

  it('refuses a bad value, naming the variable and what is expected', () => {
    const r = start({ FRS_ENDPOINT: 'http://127.0.0.1:9', HUAWEICLOUD_SDK_AK: 'AK', HUAWEICLOUD_SDK_SK: 'SK', FRS_METER_SECRET_KEY: '0123456789abcdef', FRS_METER_FLUSH_INTERVAL_MS: 'soon' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('FRS_METER_FLUSH_INTERVAL_MS="soon" is not valid: expected a whole number');
  });
});

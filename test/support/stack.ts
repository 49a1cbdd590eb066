// Starts the bundled emulator and a real frs-meter in front of it, both on port 0, with a fresh
// database and one registered app; tests then talk to them over real HTTP.

import { request } from 'undici';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { startService, RunningService } from '../../src/app';
import { Clock } from '../../src/common/clock';
import { startEmulator, RunningEmulator, EmulatorOptions } from '../../src/emulator/emulator';
import { createTestDatabase } from './db';

export const TEST_AK = 'UPSTREAMTESTAK0000001';
export const TEST_SK = 'upstream-test-secret-key-000000000000001';
export const TEST_PROJECT = '0123456789abcdef0123456789abcdef';
export const ADMIN_TOKEN = 'test-admin-token-0001';

export interface StackApp {
  readonly name: string;
  readonly api_key: string;
  readonly access_key: string;
  readonly secret_key: string;
}

export interface Stack {
  readonly meterUrl: string;
  readonly emulatorUrl: string;
  readonly adminToken: string;
  /** The default app's API key (send as X-Auth-Token). */
  readonly apiKey: string;
  readonly app: StackApp;
  readonly projectId: string;
  readonly databaseUrl: string;
  readonly emulator: RunningEmulator;
  readonly service: RunningService;
  /** Starts one more frs-meter replica on the same database and emulator. */
  startReplica(env?: Record<string, string>): Promise<RunningService>;
  createApp(name: string): Promise<StackApp>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Extra or overriding service environment. */
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  readonly emulator?: EmulatorOptions;
  /** Use an existing database URL instead of a fresh one. */
  readonly databaseUrl?: string;
  /** 'aksk' (default) or 'iam' upstream credentials. */
  readonly upstreamAuth?: 'aksk' | 'iam';
  readonly logger?: Parameters<typeof startService>[0]['logger'];
}

export function serviceEnv(emulatorUrl: string, databaseUrl: string, mode: 'aksk' | 'iam', extra: Record<string, string> = {}): Record<string, string> {
  const creds: Record<string, string> =
    mode === 'aksk'
      ? { HUAWEICLOUD_SDK_AK: TEST_AK, HUAWEICLOUD_SDK_SK: TEST_SK }
      : { IAM_ENDPOINT: emulatorUrl, IAM_DOMAIN_NAME: 'test-domain', IAM_USERNAME: 'test-user', IAM_PASSWORD: 'test-password-1' };
  return {
    PORT: '0',
    FRS_METER_HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    FRS_ENDPOINT: emulatorUrl,
    FRS_PROJECT_ID: TEST_PROJECT,
    BSS_ENDPOINT: emulatorUrl,
    FRS_METER_ADMIN_TOKEN: ADMIN_TOKEN,
    FRS_METER_SECRET_KEY: 'test-secret-key-0123456789',
    FRS_METER_BILLING_SYNC: 'off',
    FRS_METER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'frs-meter-stack-')),
    ...creds,
    ...extra,
  };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const emulator = await startEmulator({
    latency: { latencyScale: 0 },
    credentials: [{ ak: TEST_AK, sk: TEST_SK }],
    iamUsers: [{ domainName: 'test-domain', username: 'test-user', password: 'test-password-1' }],
    ...(opts.clock ? { now: () => opts.clock!.date() } : {}),
    ...opts.emulator,
  });
  const db = opts.databaseUrl ? undefined : await createTestDatabase('stack');
  const databaseUrl = opts.databaseUrl ?? db!.url;
  const mode = opts.upstreamAuth ?? 'aksk';
  const replicas: RunningService[] = [];
  const start = async (env?: Record<string, string>) => {
    const config = loadConfig(serviceEnv(emulator.url, databaseUrl, mode, { ...opts.env, ...env }));
    const s = await startService({ config, clock: opts.clock, logger: opts.logger ?? ['error'] });
    replicas.push(s);
    return s;
  };
  const service = await start();
  const createApp = async (name: string): Promise<StackApp> => {
    const res = await request(`${service.url}/admin/apps`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    const body = (await res.body.json()) as StackApp;
    if (res.statusCode !== 201) throw new Error(`creating app ${name} failed: ${res.statusCode} ${JSON.stringify(body)}`);
    return body;
  };
  const app = await createApp('test-app');
  return {
    meterUrl: service.url,
    emulatorUrl: emulator.url,
    adminToken: ADMIN_TOKEN,
    apiKey: app.api_key,
    app,
    projectId: TEST_PROJECT,
    databaseUrl,
    emulator,
    service,
    startReplica: start,
    createApp,
    async stop() {
      for (const r of replicas.reverse()) await r.close().catch(() => undefined);
      await emulator.close();
      await db?.drop();
    },
  };
}

// Entry point of `npm run emulator`: the bundled FRS + IAM + BSS emulator on its own port,
// configured from EMULATOR_* variables. Prints where it listens and which credentials it accepts.

import { ConfigError, Env, EnvReader } from '../config/env';
import { bssPlugin } from './bss/bss-plugin';
import { DEMO_CREDENTIALS, DEMO_IAM_USER, EmulatorOptions, EmulatorPlugin, RunningEmulator, startEmulator } from './emulator';
import { validateFaults } from './faults';
import { validateQps } from './throttle';
import { EmulatorInputError } from './validation';

export interface EmulatorEnvConfig {
  options: EmulatorOptions;
  /** Which secrets came from the defaults, so only demo secrets are ever printed. */
  demoSecret: boolean;
  demoPassword: boolean;
}

function json(r: EnvReader, name: string, validate: (v: unknown) => unknown): unknown {
  const raw = r.raw(name);
  if (raw === undefined) return undefined;
  try {
    return validate(JSON.parse(raw));
  } catch (e) {
    if (e instanceof EmulatorInputError) r.problem(`${name} is not valid: ${e.message}`);
    else r.problem(`${name} is not valid JSON: expected e.g. {"errors": {"face_detect": {"FRS.0018": 0.1}}}`);
    return undefined;
  }
}

/** Reads and validates every EMULATOR_* variable; throws ConfigError listing all problems. */
export function emulatorConfigFromEnv(env: Env): EmulatorEnvConfig {
  const r = new EnvReader(env);
  const ak = r.raw('EMULATOR_AK');
  const sk = r.raw('EMULATOR_SK');
  if ((ak === undefined) !== (sk === undefined)) {
    r.problem(`${ak === undefined ? 'EMULATOR_AK' : 'EMULATOR_SK'} is required when ${ak === undefined ? 'EMULATOR_SK' : 'EMULATOR_AK'} is set: the access key and secret key go together`);
  }
  const password = r.raw('EMULATOR_IAM_PASSWORD');
  const seed = r.raw('EMULATOR_SEED') === undefined ? undefined : r.int('EMULATOR_SEED', 0, 0, 2 ** 32 - 1);
  const options: EmulatorOptions = {
    port: r.int('EMULATOR_PORT', 9090, 0, 65535),
    host: r.string('EMULATOR_HOST', '127.0.0.1'),
    credentials: [ak !== undefined && sk !== undefined ? { ak, sk } : { ...DEMO_CREDENTIALS }],
    iamUsers: [
      {
        domainName: r.string('EMULATOR_IAM_DOMAIN', DEMO_IAM_USER.domainName),
        username: r.string('EMULATOR_IAM_USER', DEMO_IAM_USER.username),
        password: password ?? DEMO_IAM_USER.password,
      },
    ],
    tokenLifetimeSeconds: r.int('EMULATOR_TOKEN_LIFETIME_SECONDS', 86_400, 1, 10 * 86_400),
    latency: { latencyScale: r.number('EMULATOR_LATENCY_SCALE', 1, 0, 100) },
    faults: json(r, 'EMULATOR_FAULTS', validateFaults) as EmulatorOptions['faults'],
    qps: json(r, 'EMULATOR_QPS', validateQps) as EmulatorOptions['qps'],
    ...(seed !== undefined ? { seed } : {}),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return { options, demoSecret: sk === undefined, demoPassword: password === undefined };
}

function banner(em: RunningEmulator, cfg: EmulatorEnvConfig): string {
  const cred = cfg.options.credentials?.[0] ?? DEMO_CREDENTIALS;
  const user = cfg.options.iamUsers?.[0] ?? DEMO_IAM_USER;
  return [
    `FRS + IAM + BSS emulator listening on ${em.url}`,
    `  FRS:      ${em.url}/v2/{project_id}/face-detect …   (FRS_ENDPOINT=${em.url})`,
    `  IAM:      POST ${em.url}/v3/auth/tokens              (IAM_ENDPOINT=${em.url})`,
    `  BSS:      ${em.url}/v2/bills/…                       (BSS_ENDPOINT=${em.url})`,
    `  AK/SK:    HUAWEICLOUD_SDK_AK=${cred.ak}  HUAWEICLOUD_SDK_SK=${cfg.demoSecret ? cred.sk : '(the value of EMULATOR_SK)'}`,
    `  IAM user: IAM_DOMAIN_NAME=${user.domainName}  IAM_USERNAME=${user.username}  IAM_PASSWORD=${cfg.demoPassword ? user.password : '(the value of EMULATOR_IAM_PASSWORD)'}`,
    `  Control:  ${em.url}/__emulator/{faults,qps,latency,clock,ledger}`,
  ].join('\n');
}

export async function main(env: Env = process.env, plugins: EmulatorPlugin[] = [bssPlugin()]): Promise<void> {
  let cfg: EmulatorEnvConfig;
  try {
    cfg = emulatorConfigFromEnv(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  let em: RunningEmulator;
  try {
    em = await startEmulator({ ...cfg.options, plugins });
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    process.stderr.write(`Cannot listen on ${cfg.options.host}:${cfg.options.port} (EMULATOR_HOST, EMULATOR_PORT): ${reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`${banner(em, cfg)}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // A second signal: the user wants out now.
    stopping = true;
    process.stdout.write(`${signal}: stopping the emulator\n`);
    em.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`emulator failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}

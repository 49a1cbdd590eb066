import { ConfigError } from '../config/env';
import { DEMO_CREDENTIALS, DEMO_IAM_USER } from './emulator';
import { emulatorConfigFromEnv } from './main';

describe('emulatorConfigFromEnv', () => {
  it('defaults to port 9090 on 127.0.0.1 with the demo credentials', () => {
    const cfg = emulatorConfigFromEnv({});
    expect(cfg.options).toMatchObject({
      port: 9090,
      host: '127.0.0.1',
      credentials: [DEMO_CREDENTIALS],
      iamUsers: [DEMO_IAM_USER],
      tokenLifetimeSeconds: 86_400,
      latency: { latencyScale: 1 },
    });
    expect([cfg.demoSecret, cfg.demoPassword]).toEqual([true, true]);
  });

  it('reads every variable', () => {
    const cfg = emulatorConfigFromEnv({
      EMULATOR_PORT: '0',
      EMULATOR_AK: 'AK1',
      EMULATOR_SK: 'SK1',
      EMULATOR_IAM_USER: 'u',
      EMULATOR_IAM_PASSWORD: 'p',
      EMULATOR_IAM_DOMAIN: 'd',
      EMULATOR_TOKEN_LIFETIME_SECONDS: '5',
      EMULATOR_LATENCY_SCALE: '0',
      EMULATOR_FAULTS: '{"errors": {"*": {"FRS.0018": 0.1}}, "idleCloseSeconds": 60}',
      EMULATOR_QPS: '{"live_detect": 2}',
      EMULATOR_SEED: '42',
    });
    expect(cfg.options).toMatchObject({
      port: 0,
      credentials: [{ ak: 'AK1', sk: 'SK1' }],
      iamUsers: [{ domainName: 'd', username: 'u', password: 'p' }],
      tokenLifetimeSeconds: 5,
      latency: { latencyScale: 0 },
      faults: { errors: { '*': { 'FRS.0018': 0.1 } }, idleCloseSeconds: 60 },
      qps: { live_detect: 2 },
      seed: 42,
    });
    expect([cfg.demoSecret, cfg.demoPassword]).toEqual([false, false]);
  });

  it('names each bad variable', () => {
    let problems: readonly string[] = [];
    try {
      emulatorConfigFromEnv({ EMULATOR_PORT: '70000', EMULATOR_SK: 's', EMULATOR_FAULTS: '{oops', EMULATOR_QPS: '{"face_detect": -1}', EMULATOR_LATENCY_SCALE: 'fast' });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      problems = (e as ConfigError).problems;
    }
    expect(problems).toEqual([
      'EMULATOR_AK is required when EMULATOR_SK is set: the access key and secret key go together',
      'EMULATOR_PORT="70000" is not valid: expected a whole number from 0 to 65535',
      'EMULATOR_LATENCY_SCALE="fast" is not valid: expected a number from 0 to 100',
      'EMULATOR_FAULTS is not valid JSON: expected e.g. {"errors": {"face_detect": {"FRS.0018": 0.1}}}',
      'EMULATOR_QPS is not valid: qps.face_detect must be a number from 0 to 1000000, got -1',
    ]);
  });
});

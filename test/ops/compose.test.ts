// docker-compose.yml against the Compose Specification schema (vendored, see vendor/README.md),
// every file it mounts present, the services wired to each other, and the Dockerfile's shape.
// No Docker engine is needed.

import Ajv from 'ajv';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { Json, REPO } from './queries';

const read = (path: string): string => readFileSync(join(REPO, path), 'utf8');
const compose: Json = parse(read('docker-compose.yml'), { merge: true });
const services: Record<string, Json> = compose.services;

function composeValidator(): (doc: unknown) => string[] {
  const schema = JSON.parse(readFileSync(join(__dirname, 'vendor', 'compose-spec.json'), 'utf8'));
  // The schema names its draft-07 meta-schema by an https URL ajv does not know; ajv is draft-07.
  delete schema.$schema;
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`));
}

/** `./x:/y:ro` → `./x`; long syntax → its source; named volumes → undefined. */
function bindSource(volume: Json): string | undefined {
  const source = typeof volume === 'string' ? volume.split(':')[0] : volume.type === 'bind' ? volume.source : undefined;
  return source !== undefined && /^[./]/.test(source) ? source : undefined;
}

/** Resolves `${VAR:-default}` to its default, as compose does with VAR unset. */
const withDefaults = (s: string): string => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

describe('docker-compose.yml', () => {
  const validate = composeValidator();

  test('is valid against the Compose Specification schema', () => {
    expect(validate(compose)).toEqual([]);
  });

  test('the schema check can fail: an unknown service key and a bad depends_on condition are refused', () => {
    const broken = JSON.parse(JSON.stringify(compose));
    broken.services['frs-meter'].enviroment = { PORT: '8080' };
    broken.services.grafana.depends_on = { prometheus: { condition: 'when_ready' } };
    const problems = validate(broken).join('\n');
    expect(problems).toMatch(/frs-meter.*additional properties.*enviroment/);
    expect(problems).toMatch(/depends_on\/prometheus\/condition/);
  });

  test('mounts and builds only files and folders that exist in the repository', () => {
    const sources: string[] = [];
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const src = bindSource(v);
        if (src) sources.push(`${name}: ${src}`);
      }
      if (s.build) {
        const context = typeof s.build === 'string' ? s.build : s.build.context;
        sources.push(`${name}: ${context}`, `${name}: ${posix.join(context, s.build.dockerfile ?? 'Dockerfile')}`);
      }
      for (const f of [s.env_file ?? []].flat()) sources.push(`${name}: ${typeof f === 'string' ? f : f.path}`);
    }
    expect(sources.length).toBeGreaterThanOrEqual(6);
    const missing = sources.filter((s) => !existsSync(join(REPO, s.split(': ')[1])));
    expect(missing).toEqual([]);
  });

  test('has the services of the stack, the emulator only in the demo profile', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'emulator', 'frs-meter', 'grafana', 'postgres', 'prometheus']);
    for (const name of ['postgres', 'frs-meter', 'prometheus', 'alertmanager', 'grafana']) expect(services[name].profiles).toBeUndefined();
    const emu = services.emulator;
    expect(emu.profiles).toEqual(['demo']);
    expect(emu.command).toEqual(['npm', 'run', 'emulator']);
    expect(emu.environment.EMULATOR_HOST).toBe('0.0.0.0');
    expect(JSON.parse(read('package.json')).scripts.emulator).toMatch(/src\/emulator\/main\.ts/);
  });

  test('frs-meter gets every variable the service needs, pointing at the other services', () => {
    const s = services['frs-meter'];
    expect(s.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    const env: Record<string, string> = s.environment;
    for (const v of [
      'PORT', 'DATABASE_URL', 'FRS_ENDPOINT', 'FRS_PROJECT_ID', 'HUAWEICLOUD_SDK_AK', 'HUAWEICLOUD_SDK_SK',
      'FRS_METER_ADMIN_TOKEN', 'FRS_METER_SECRET_KEY', 'BSS_ENDPOINT',
    ]) {
      expect({ v, set: typeof env[v] === 'string' && env[v] !== '' }).toEqual({ v, set: true });
    }
    const pg = services.postgres.environment;
    const db = new URL(withDefaults(env.DATABASE_URL));
    expect([db.hostname, db.port, db.pathname, db.username, db.password]).toEqual([
      'postgres', '5432', `/${pg.POSTGRES_DB}`, pg.POSTGRES_USER, withDefaults(pg.POSTGRES_PASSWORD),
    ]);
    const upstream = new URL(withDefaults(env.FRS_ENDPOINT));
    expect([upstream.hostname, upstream.port]).toEqual(['emulator', services.emulator.environment.EMULATOR_PORT]);
    // The emulator accepts exactly the AK/SK frs-meter signs with.
    expect(withDefaults(services.emulator.environment.EMULATOR_AK)).toBe(withDefaults(env.HUAWEICLOUD_SDK_AK));
    expect(withDefaults(services.emulator.environment.EMULATOR_SK)).toBe(withDefaults(env.HUAWEICLOUD_SDK_SK));
    expect(s.depends_on.postgres.condition).toBe('service_healthy');
    expect(s.depends_on.emulator.required).toBe(false);
  });

  test('Prometheus reads prometheus/ and scrapes frs-meter by its service name and port', () => {
    const p = services.prometheus;
    expect(p.volumes).toContain('./prometheus:/etc/prometheus:ro');
    expect(p.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const config = parse(read('prometheus/prometheus.yml'));
    const job = config.scrape_configs.find((j: Json) => j.job_name === 'frs-meter');
    expect(job.static_configs[0].targets).toEqual([`frs-meter:${services['frs-meter'].environment.PORT}`]);
    expect(job.metrics_path ?? '/metrics').toBe('/metrics');
    expect(config.rule_files).toEqual(['alerts.yml']);
    expect(existsSync(join(REPO, 'prometheus', config.rule_files[0]))).toBe(true);
    expect(config.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
    expect(services.alertmanager.volumes).toContain('./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro');
  });

  test('Grafana is provisioned with the Prometheus datasource and the dashboards folder', () => {
    const g = services.grafana;
    expect(g.volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
    const dashMount = g.volumes.find((v: string) => v.startsWith('./grafana/dashboards:'));
    const provider = parse(read('grafana/provisioning/dashboards/frs-meter.yml')).providers[0];
    expect(dashMount.split(':')[1]).toBe(provider.options.path);
    expect(g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH).toBe(`${provider.options.path}/frs-operations.json`);
    const ds = parse(read('grafana/provisioning/datasources/prometheus.yml')).datasources;
    expect(ds.find((d: Json) => d.type === 'prometheus')).toMatchObject({ uid: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(ds.find((d: Json) => d.type === 'alertmanager')).toMatchObject({ url: 'http://alertmanager:9093' });
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  test('builds in a node:20-slim stage and runs production dependencies only', () => {
    expect(stages.map((s) => s.split('\n')[0])).toEqual(['node:20-slim AS build', 'node:20-slim AS runtime']);
    expect(stages[0]).toMatch(/^RUN npm ci$/m);
    expect(stages[0]).toMatch(/^RUN npm run build$/m);
    expect(stages[1]).toMatch(/^RUN npm ci --omit=dev/m);
    expect(stages[1]).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  test('runs as a non-root user, exposes 8080, checks /healthz and starts dist/src/main.js', () => {
    const runtime = stages[1];
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^EXPOSE 8080$/m);
    expect(runtime).toMatch(/^HEALTHCHECK [\s\S]*\/healthz/m);
    // The young generation capped as in `npm run start:prod` (README "One process's footprint").
    expect(runtime.trim().split('\n').pop()).toBe('CMD ["node", "--max-semi-space-size=1", "dist/src/main.js"]');
    // The path the build writes main.js to (tsc, outDir dist, sources under src/ and migrations/).
    expect(JSON.parse(read('package.json')).scripts['start:prod']).toBe('node --max-semi-space-size=1 dist/src/main.js');
    expect(JSON.parse(read('tsconfig.json')).compilerOptions.outDir).toBe('./dist');
  });

  test('.dockerignore keeps local state, dependencies and secrets out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['.git', 'node_modules', 'dist', '.env', '.frs-meter']) expect(ignored).toContain(p);
    // ...but not what the build needs.
    for (const p of ['src', 'migrations', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored).not.toContain(p);
    }
  });
});

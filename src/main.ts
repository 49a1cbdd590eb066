// `npm start`: validate configuration, start, and stop gracefully on SIGTERM/SIGINT.
import { loadConfig } from './config/config';
import { ConfigError } from './config/env';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`frs-meter: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Loaded only once the configuration is known to be good, so a bad start fails fast.
  const { startService } = await import('./app');
  const service = await startService({ config });
  process.stdout.write(`frs-meter listening on ${service.url} (metrics ${service.url}/metrics, upstream ${config.upstream.endpoint})\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`frs-meter: ${signal} received, finishing in-flight calls and flushing usage\n`);
    service.close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`frs-meter: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`frs-meter: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

// Face images are biometric data and credentials are secrets: neither may reach the logs.
// Everything the service writes — its Nest logger at every level and the process's stdout and
// stderr — is captured while image calls succeed, fail upstream, and while logins fail.

import { request } from 'undici';
import type { LoggerService } from '@nestjs/common';
import { pathFor } from '../src/frs/operations';
import { startStack, Stack, TEST_SK } from './support/stack';

const MARKER = 'PRIVACYMARKERb64Zm9vYmFy';

class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
  error(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
  warn(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
  debug(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
  verbose(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
  fatal(...a: unknown[]) { this.lines.push(a.map(String).join(' ')); }
}

describe('privacy of logs', () => {
  let stack: Stack;
  const logger = new CapturingLogger();
  const written: string[] = [];
  const original = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

  beforeAll(async () => {
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    stack = await startStack({ logger });
  });

  afterAll(async () => {
    await stack?.stop();
    process.stdout.write = original.out;
    process.stderr.write = original.err;
  });

  it('never logs image data or credentials, on success, upstream failure or failed login', async () => {
    const image = 'A'.repeat(50_000) + MARKER + 'B'.repeat(50_000);
    const url = `${stack.meterUrl}${pathFor('face_detect', stack.projectId)}`;
    const send = (headers: Record<string, string>, body: string) =>
      request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));

    expect((await send({ 'x-auth-token': stack.apiKey }, JSON.stringify({ image_base64: image }))).status).toBe(200);
    // Upstream failures: an injected 500 and a body that is not JSON.
    stack.emulator.setFaults({ errors: { face_detect: { 'FRS.0018': 1 } } });
    expect((await send({ 'x-auth-token': stack.apiKey }, JSON.stringify({ image_base64: image }))).status).toBe(500);
    stack.emulator.setFaults({ errors: {} });
    expect((await send({ 'x-auth-token': stack.apiKey }, `{"image_base64": "${image}`)).status).toBe(400);
    // Failed logins: a wrong key that looks real, and a signature by a known AK with a wrong secret.
    const wrongKey = stack.apiKey.slice(0, -6) + 'XXXXXX';
    expect((await send({ 'x-auth-token': wrongKey }, JSON.stringify({ image_base64: image }))).status).toBe(401);
    expect(
      (await send({ authorization: `SDK-HMAC-SHA256 Access=${stack.app.access_key}, SignedHeaders=host;x-sdk-date, Signature=${'0'.repeat(64)}`, 'x-sdk-date': '20260101T000000Z' }, JSON.stringify({ image_base64: image }))).status,
    ).toBe(401);

    await stack.service.close();
    const everything = [...logger.lines, ...written].join('\n');
    // The capture works: the service's own start-up lines went through it…
    expect(logger.lines.join('\n')).toMatch(/Nest application successfully started/);
    // …and holds neither image data nor any secret.
    for (const secret of [MARKER, 'A'.repeat(64), stack.apiKey, wrongKey, stack.app.secret_key, TEST_SK, stack.adminToken, 'test-secret-key-0123456789']) {
      expect({ secret: secret.slice(0, 12), found: everything.includes(secret) }).toEqual({ secret: secret.slice(0, 12), found: false });
    }
  });
});

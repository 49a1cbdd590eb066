// The hot path's contract after it stopped copying and hashing bodies: what the upstream receives
// in each signing mode, bodies byte-identical in every mode and framing, and the size limit
// enforced by counting bytes — before reading when Content-Length says so, and at limit + 1 bytes
// when the body is chunked. Real sockets throughout; the emulator verifies every upstream
// signature over its own hash of the bytes it received, and its ledger records that hash.

import { createHash } from 'node:crypto';
import { connect, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { AKSKSigner } from '@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner';
import { pathFor } from '../src/frs/operations';
import { RunningService } from '../src/app';
import { startStack, Stack, TEST_AK } from './support/stack';

const IMAGE = Buffer.alloc(150 * 1024, 5).toString('base64');
const BODY = JSON.stringify({ image_base64: IMAGE });
const BODY_SHA256 = createHash('sha256').update(BODY).digest('hex');
/** The API gateway's limit for AK/SK-signed bodies, which frs-meter's AK/SK upstream inherits. */
const LIMIT = 12 * 1024 * 1024;

type Framing = 'content-length' | 'chunked';
type Client = 'api-key' | 'aksk';

/** Sends BODY to face_detect through `url` with the given client credentials and framing. */
async function detect(stack: Stack, url: string, client: Client, framing: Framing) {
  const path = pathFor('face_detect', stack.projectId);
  let headers: Record<string, string> = { 'content-type': 'application/json' };
  if (client === 'api-key') headers['x-auth-token'] = stack.apiKey;
  else {
    const credential = { getAk: () => stack.app.access_key, getSk: () => stack.app.secret_key } as unknown as Parameters<typeof AKSKSigner.sign>[1];
    headers = AKSKSigner.sign({ endpoint: `${url}${path}`, method: 'POST', headers: { 'Content-Type': 'application/json' }, data: JSON.parse(BODY) }, credential) as Record<string, string>;
  }
  // A stream body has no known length, so undici sends it chunked, in pieces.
  const pieces = [BODY.slice(0, 70_000), BODY.slice(70_000, 140_000), BODY.slice(140_000)];
  const body = framing === 'chunked' ? Readable.from(pieces.map((p) => Buffer.from(p))) : BODY;
  const res = await request(`${url}${path}`, { method: 'POST', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, text, headers: res.headers };
}

/** A raw HTTP/1.1 exchange: resolves with what the server sent by the time it answered (or `waitMs` passed). */
function rawExchange(url: string, head: string, write: (s: Socket, seen: () => string) => Promise<void>, waitMs = 5_000): Promise<{ response: string; socket: Socket }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    let response = '';
    const timer = setTimeout(() => resolve({ response, socket }), waitMs);
    socket.on('data', (c) => {
      response += c.toString('latin1');
      if (/\r\n\r\n/.test(response) && /content-length: (\d+)/i.test(response)) {
        const len = Number(/content-length: (\d+)/i.exec(response)![1]);
        if (response.length - response.indexOf('\r\n\r\n') - 4 >= len) {
          clearTimeout(timer);
          resolve({ response, socket });
        }
      }
    });
    socket.on('error', (e) => (response ? undefined : reject(e))); // a reset after the answer is expected
    socket.on('connect', () => {
      socket.write(head);
      write(socket, () => response).catch(() => undefined);
    });
  });
}

describe('hot path: upstream signing, body integrity, size limits', () => {
  let stack: Stack;
  let signing: RunningService;
  let largeLimit: RunningService;

  beforeAll(async () => {
    stack = await startStack({ emulator: { qps: { face_detect: 1000 } } });
    signing = await stack.startReplica({ FRS_METER_SIGN_BODY: 'on' });
    // Media limit raised past 12 MB, so the AK/SK gateway limit of 12 MB is the one in force.
    largeLimit = await stack.startReplica({ FRS_METER_MAX_MEDIA_BODY_BYTES: String(16 * 1024 * 1024) });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('sends X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD upstream by default, the body byte-identical', async () => {
    stack.emulator.clearLedger();
    const res = await detect(stack, stack.meterUrl, 'api-key', 'content-length');
    expect(res.status).toBe(200);
    const [entry] = stack.emulator.ledger();
    expect({ status: entry.status, accessKey: entry.accessKey, declared: entry.declaredContentSha256, sha: entry.bodySha256 }).toEqual({
      status: 200,
      accessKey: TEST_AK,
      declared: 'UNSIGNED-PAYLOAD',
      sha: BODY_SHA256,
    });
  });

  it('signs the body hash upstream with FRS_METER_SIGN_BODY=on, which the emulator checks against the bytes it got', async () => {
    stack.emulator.clearLedger();
    const res = await detect(stack, signing.url, 'api-key', 'chunked');
    expect(res.status).toBe(200);
    const [entry] = stack.emulator.ledger();
    // No UNSIGNED-PAYLOAD declared: the emulator verified the signature over its own SHA-256 of
    // the received body, so a wrong or missing hash would have been APIG.0301.
    expect({ status: entry.status, accessKey: entry.accessKey, declared: entry.declaredContentSha256, sha: entry.bodySha256 }).toEqual({
      status: 200,
      accessKey: TEST_AK,
      declared: undefined,
      sha: BODY_SHA256,
    });
  });

  it('delivers the body byte-identical in every signing mode, client credential and framing', async () => {
    stack.emulator.clearLedger();
    const runs: string[] = [];
    for (const [mode, url] of [['unsigned', stack.meterUrl], ['sign-body', signing.url]] as const) {
      for (const client of ['api-key', 'aksk'] as const) {
        for (const framing of ['content-length', 'chunked'] as const) {
          const res = await detect(stack, url, client, framing);
          expect({ mode, client, framing, status: res.status }).toEqual({ mode, client, framing, status: 200 });
          expect(res.headers['x-request-id']).toBeTruthy();
          runs.push(`${mode}/${client}/${framing}`);
        }
      }
    }
    const ledger = stack.emulator.ledger();
    expect(runs).toHaveLength(8);
    expect(ledger.map((e) => e.bodySha256)).toEqual(runs.map(() => BODY_SHA256));
    expect(ledger.map((e) => e.declaredContentSha256 ?? 'signed')).toEqual(['UNSIGNED-PAYLOAD', 'UNSIGNED-PAYLOAD', 'UNSIGNED-PAYLOAD', 'UNSIGNED-PAYLOAD', 'signed', 'signed', 'signed', 'signed']);
  });

  it('refuses a declared 12 MB + 1 byte body with 413 before reading any of it', async () => {
    stack.emulator.clearLedger();
    const path = pathFor('face_detect', stack.projectId);
    const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${stack.apiKey}\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`;
    // Not one body byte is sent: the answer can only come from the declared length.
    const { response, socket } = await rawExchange(largeLimit.url, head, async () => undefined);
    socket.destroy();
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response.toLowerCase()).toContain('connection: close');
    expect(response).toContain('"error_code":"METER.0413"');
    expect(response).toContain(`over the ${LIMIT}-byte limit`);
    expect(stack.emulator.ledger()).toEqual([]);
  });

  it('forwards a chunked body of exactly 12 MB, and refuses one as soon as byte 12 MB + 1 arrives', async () => {
    stack.emulator.clearLedger();
    const path = pathFor('face_detect', stack.projectId);
    const fill = Buffer.alloc(LIMIT, 0x41);
    // Exactly the limit is forwarded: the emulator (FRS's own 8 MB limit) answers FRS.0017.
    const ok = await request(`${largeLimit.url}${path}`, {
      method: 'POST',
      headers: { 'x-auth-token': stack.apiKey, 'content-type': 'application/json' },
      body: Readable.from([fill.subarray(0, LIMIT / 2), fill.subarray(LIMIT / 2)]),
    });
    expect({ status: ok.statusCode, code: ((await ok.body.json()) as { error_code: string }).error_code }).toEqual({ status: 400, code: 'FRS.0017' });
    expect(stack.emulator.ledger().map((e) => e.bodySha256)).toEqual([createHash('sha256').update(fill).digest('hex')]);
    stack.emulator.clearLedger();

    // Limit bytes, a pause with no answer, then one more byte: the 413 comes without the body's end.
    const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${stack.apiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    let answeredBeforeLastByte = '';
    const { response, socket } = await rawExchange(largeLimit.url, head, async (s, seen) => {
      s.write(`${LIMIT.toString(16)}\r\n`);
      s.write(fill);
      s.write('\r\n');
      await new Promise((r) => setTimeout(r, 500));
      answeredBeforeLastByte = seen();
      s.write('1\r\nA\r\n'); // byte limit + 1; the terminating 0-chunk is never sent
    });
    socket.destroy();
    expect(answeredBeforeLastByte).toBe('');
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"error_code":"METER.0413"');
    expect(stack.emulator.ledger()).toEqual([]);
  });
});

// A TCP forwarder in front of PostgreSQL for tests: it counts the SQL statements that pass
// (simple and extended protocol), and can play a network partition — sockets stay open, nothing
// passes either way, and what was sent meanwhile is delivered once the partition heals (as TCP
// retransmission would).

import { createServer, connect, Server, Socket } from 'node:net';

export interface PgForwarder {
  readonly port: number;
  /** `databaseUrl` with its host and port replaced by the forwarder's. */
  url(databaseUrl: string): string;
  /** SQL text of every Query and Parse message seen, in order. */
  readonly statements: string[];
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

class Pipe {
  private held: Buffer[] = [];
  constructor(
    private readonly to: Socket,
    private readonly blocked: () => boolean,
  ) {}
  push(chunk: Buffer): void {
    if (this.blocked()) this.held.push(chunk);
    else this.to.write(chunk);
  }
  release(): void {
    for (const c of this.held) this.to.write(c);
    this.held = [];
  }
}

/** Reads the client side of the protocol: the untyped startup message, then typed messages. */
class ClientMessages {
  private buf = Buffer.alloc(0);
  private started = false;
  constructor(private readonly onStatement: (sql: string) => void) {}
  feed(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (!this.started) {
        if (this.buf.length < 4) return;
        const len = this.buf.readInt32BE(0);
        if (this.buf.length < len) return;
        const code = this.buf.readInt32BE(4);
        this.buf = this.buf.subarray(len);
        // SSLRequest / GSSENCRequest come before the real startup message.
        if (code !== 80877103 && code !== 80877104) this.started = true;
        continue;
      }
      if (this.buf.length < 5) return;
      const type = String.fromCharCode(this.buf[0]);
      const len = this.buf.readInt32BE(1);
      if (this.buf.length < 1 + len) return;
      const body = this.buf.subarray(5, 1 + len);
      if (type === 'Q') this.onStatement(body.subarray(0, body.indexOf(0)).toString('utf8'));
      if (type === 'P') {
        const nameEnd = body.indexOf(0);
        this.onStatement(body.subarray(nameEnd + 1, body.indexOf(0, nameEnd + 1)).toString('utf8'));
      }
      this.buf = this.buf.subarray(1 + len);
    }
  }
}

export async function startPgForwarder(targetUrl: string): Promise<PgForwarder> {
  const target = new URL(targetUrl);
  const targetPort = Number(target.port || 5432);
  const targetHost = target.hostname;
  let partitioned = false;
  const pipes = new Set<Pipe>();
  const sockets = new Set<Socket>();
  const statements: string[] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const up = new Pipe(upstream, () => partitioned);
    const down = new Pipe(client, () => partitioned);
    pipes.add(up);
    pipes.add(down);
    const messages = new ClientMessages((sql) => statements.push(sql));
    client.on('data', (c: Buffer) => {
      messages.feed(c);
      up.push(c);
    });
    upstream.on('data', (c: Buffer) => down.push(c));
    const end = () => {
      client.destroy();
      upstream.destroy();
      pipes.delete(up);
      pipes.delete(down);
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    statements,
    url(databaseUrl: string) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    partition() {
      partitioned = true;
    },
    heal() {
      partitioned = false;
      for (const p of pipes) p.release();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

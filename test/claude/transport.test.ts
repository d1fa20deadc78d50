import Anthropic from '@anthropic-ai/sdk';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/claude/transport.js';
import { faults, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { API_KEY, MODEL, waitForEnd } from '../emulator/helpers.js';

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmulator({ batchLatencyMs: 10 });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

// The same SDK calls through both transports must look the same to the caller.
const transports = { node: () => nodeFetch(), fetch: () => fetch } as const;
const client = (kind: keyof typeof transports, options: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) =>
  new Anthropic({ apiKey: API_KEY, baseURL: emu.url, fetch: transports[kind](), ...options });
const params = (text: string) => ({ model: MODEL, max_tokens: 50, messages: [{ role: 'user' as const, content: text }] });
const attempts = () => emu.requests.filter({ path: '/v1/messages' });
const errorOf = (p: Promise<unknown>) => p.then(() => new Error('no error'), (e: unknown) => e);

describe.each(['node', 'fetch'] as const)('the SDK over the %s transport', (kind) => {
  it('streams a message: deltas in order, the final message whole', async () => {
    const stream = client(kind).messages.stream(params('one two three four five six seven'));
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const message = await stream.finalMessage();
    expect(message.stop_reason).toBe('end_turn');
    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join('')).toBe(message.content.map((b) => (b.type === 'text' ? b.text : '')).join(''));
    expect(attempts()[0]).toMatchObject({ status: 200, stream: true });
  });

  it('sends JSON and reads JSON: messages, count_tokens, and a batch with its JSONL results', async () => {
    const c = client(kind);
    await expect(c.messages.create(params('hello'))).resolves.toMatchObject({ type: 'message', role: 'assistant' });
    await expect(c.messages.countTokens({ model: MODEL, messages: params('hello').messages })).resolves.toMatchObject({ input_tokens: expect.any(Number) });
    const batch = await c.messages.batches.create({
      requests: Array.from({ length: 3 }, (_, i) => ({ custom_id: `r${i}`, params: params(`item ${i}`) })),
    });
    await waitForEnd(c, batch.id);
    const ids: string[] = [];
    for await (const r of await c.messages.batches.results(batch.id)) ids.push(r.custom_id);
    expect(ids.sort()).toEqual(['r0', 'r1', 'r2']);
  });

  it('turns API errors into the SDK error classes with the API message', async () => {
    const err = await errorOf(client(kind).messages.create({ ...params('x'), max_tokens: -1 }));
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.APIError>).message).toMatch(/max_tokens/);
    expect((err as InstanceType<typeof Anthropic.APIError>).requestID).toMatch(/^req_/);
  });

  it('lets the SDK retry a 429 and succeed', async () => {
    emu.fault(faults.rateLimited({ retryAfterMs: 1 }), { path: '/v1/messages', times: 2 });
    await expect(client(kind).messages.create(params('retry me'))).resolves.toMatchObject({ type: 'message' });
    expect(attempts().map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('reports a dropped connection as APIConnectionError and a slow one as a timeout', async () => {
    emu.fault(faults.drop(), { times: 2 });
    expect(await errorOf(client(kind, { maxRetries: 1 }).messages.create(params('x')))).toBeInstanceOf(Anthropic.APIConnectionError);
    emu.fault(faults.delay(400));
    expect(await errorOf(client(kind, { maxRetries: 0, timeout: 50 }).messages.create(params('x')))).toBeInstanceOf(
      Anthropic.APIConnectionTimeoutError,
    );
  });

  it('fails a stream that errors or is cut mid-way, and stops one the caller aborts', async () => {
    emu.fault(faults.streamError({ afterEvents: 3 }));
    const failed = await errorOf(client(kind).messages.stream(params('hello there')).finalMessage());
    expect(failed).toBeInstanceOf(Anthropic.APIError);
    expect((failed as InstanceType<typeof Anthropic.APIError>).type).toBe('overloaded_error');

    emu.fault(faults.streamDrop({ afterEvents: 4 }));
    expect(await errorOf(client(kind).messages.stream(params('one two three four five six')).finalMessage())).toBeInstanceOf(
      Anthropic.AnthropicError,
    );

    const slow = await startEmulator({ stream: { eventDelayMs: 50 } });
    try {
      const controller = new AbortController();
      const stream = new Anthropic({ apiKey: API_KEY, baseURL: slow.url, fetch: transports[kind]() }).messages.stream(
        params('a b c d e f g h i j k l m n o p'),
        { signal: controller.signal },
      );
      stream.on('text', () => controller.abort());
      expect(await errorOf(stream.finalMessage())).toBeInstanceOf(Anthropic.APIUserAbortError);
    } finally {
      await slow.close();
    }
  });
});

describe('the node transport over TLS', () => {
  let server: Server;
  let dir: string;
  const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

  beforeAll(async () => {
    // A self-signed certificate made for this test; the process is told to accept it for the test's duration.
    dir = mkdtempSync(join(tmpdir(), 'agentpg-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    // Answers like the API, gzip-compressed although nobody asked, to show the body is decoded.
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => {
        const body = gzipSync(
          JSON.stringify({
            id: 'msg_01tls', type: 'message', role: 'assistant', model: MODEL, content: [{ type: 'text', text: `over TLS: ${req.method} ${req.url}` }],
            stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 4 },
          }),
        );
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length, 'request-id': 'req_tls' });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the request over https and decodes a compressed answer', async () => {
    const port = (server.address() as AddressInfo).port;
    const c = new Anthropic({ apiKey: API_KEY, baseURL: `https://localhost:${port}`, fetch: nodeFetch(), maxRetries: 0 });
    const message = await c.messages.create(params('hi'));
    expect(message.content).toEqual([{ type: 'text', text: 'over TLS: POST /v1/messages' }]);
  });
});

import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { faults, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { MODEL, sdk, waitForEnd } from './helpers.js';
import { waitFor } from '../support/db.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ batchLatencyMs: 10 });
  client = sdk(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const ask = (c: Anthropic = client, opts?: Anthropic.RequestOptions) =>
  c.messages.create({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'ping' }] }, opts);
const attempts = () => emu.requests.filter({ path: '/v1/messages' });

describe('HTTP faults as the SDK sees them', () => {
  it('429 with retry-after-ms: the SDK retries and succeeds', async () => {
    const f = emu.fault(faults.rateLimited({ retryAfterMs: 5 }), { path: '/v1/messages', times: 2 });
    await expect(ask()).resolves.toMatchObject({ type: 'message' });
    expect(f.hits).toBe(2);
    expect(f.remaining).toBe(0);
    expect(attempts().map((r) => [r.retryCount, r.status, r.fault])).toEqual([
      [0, 429, 'http'],
      [1, 429, 'http'],
      [2, 200, undefined],
    ]);
  });

  it('429 with retry-after (seconds) is honoured too', async () => {
    emu.fault(faults.rateLimited({ retryAfter: 0.01 }));
    await expect(ask()).resolves.toBeDefined();
    expect(attempts().map((r) => r.status)).toEqual([429, 200]);
  });

  it('529 on every attempt: OverloadedError after 3 attempts', async () => {
    emu.fault(faults.overloaded({ retryAfterMs: 1 }), { times: Infinity });
    const err = await ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.OverloadedError);
    expect((err as APIError).status).toBe(529);
    expect((err as APIError).type).toBe('overloaded_error');
    expect(attempts().map((r) => r.retryCount)).toEqual([0, 1, 2]);
  });

  it('500 is an InternalServerError; x-should-retry: false stops retries at once', async () => {
    emu.fault(faults.serverError({ shouldRetry: false }), { times: Infinity });
    const err = await ask().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(attempts()).toHaveLength(1);
  });

  it('x-should-retry: true makes even a 400 retried', async () => {
    emu.fault(faults.http(400, { shouldRetry: true, retryAfterMs: 1, message: 'flaky' }));
    await expect(ask()).resolves.toBeDefined();
    expect(attempts().map((r) => r.status)).toEqual([400, 200]);
  });

  it('faults can target a method, a path and a matcher', async () => {
    emu.fault(faults.serverError({ shouldRetry: false }), { method: 'POST', path: '/v1/messages/count_tokens' });
    emu.fault(faults.rateLimited({ shouldRetry: false }), { match: { lastUserText: 'special' } });
    await expect(ask()).resolves.toBeDefined();
    await expect(client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      Anthropic.InternalServerError,
    );
    await expect(client.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'a special one' }] })).rejects.toBeInstanceOf(
      Anthropic.RateLimitError,
    );
  });

  it('a dropped connection is an APIConnectionError after the retries', async () => {
    emu.fault(faults.drop(), { times: Infinity });
    const err = await ask(sdk(emu, { maxRetries: 1 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIConnectionError);
    expect(attempts().map((r) => [r.status, r.fault])).toEqual([
      [null, 'drop'],
      [null, 'drop'],
    ]);
  });

  it('a dropped connection followed by success is invisible to the caller', async () => {
    emu.fault(faults.drop());
    await expect(ask()).resolves.toMatchObject({ type: 'message' });
    expect(attempts().map((r) => r.status)).toEqual([null, 200]);
  });

  it('a slow response trips the SDK timeout, and is fine with a longer one', async () => {
    emu.fault(faults.delay(300));
    const err = await ask(sdk(emu, { maxRetries: 0, timeout: 50 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    emu.fault(faults.delay(30));
    await expect(ask(sdk(emu, { maxRetries: 0, timeout: 5000 }))).resolves.toBeDefined();
    // The abandoned slow request is logged when its delay ends; let that happen inside this test.
    await waitFor(() => attempts().length === 2, { message: 'both requests logged' });
  });

  it('a mid-stream error event surfaces as an APIError without status, not retried', async () => {
    emu.fault(faults.streamError({ afterEvents: 3 }));
    const stream = client.messages.stream({ model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }] });
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as APIError).status).toBeUndefined();
    expect((err as APIError).type).toBe('overloaded_error');
    expect(attempts()).toHaveLength(1);
    expect(attempts()[0]).toMatchObject({ status: 200, stream: true, fault: 'stream_error' });
  });

  it('a stream cut mid-way makes finalMessage reject', async () => {
    emu.fault(faults.streamDrop({ afterEvents: 4 }));
    const stream = client.messages.stream({ model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: 'one two three four five six' }] });
    const texts: string[] = [];
    stream.on('text', (t) => texts.push(t));
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AnthropicError);
    expect(texts.length).toBeGreaterThan(0);
  });

  it('stream faults do not fire on non-streaming calls', async () => {
    const f = emu.fault(faults.streamError());
    await expect(ask()).resolves.toBeDefined();
    expect(f.hits).toBe(0);
    f.cancel();
    expect(f.remaining).toBe(0);
  });
});

describe('batch faults', () => {
  const req = (custom_id: string) => ({ custom_id, params: { model: MODEL, max_tokens: 20, messages: [{ role: 'user' as const, content: custom_id }] } });

  it('makes chosen requests end errored, expired or canceled', async () => {
    emu.fault(faults.batchErrored({ type: 'invalid_request_error', message: 'bad thing' }), { customId: 'e-invalid' });
    emu.fault(faults.batchErrored({ type: 'overloaded_error' }), { customId: /^e-over/ });
    emu.fault(faults.batchExpired(), { customId: 'x-expired' });
    emu.fault(faults.batchCanceled(), { match: { lastUserText: 'c-canceled' } });
    const b = await client.messages.batches.create({ requests: ['ok', 'e-invalid', 'e-overloaded', 'x-expired', 'c-canceled'].map(req) });
    const ended = await waitForEnd(client, b.id);
    expect(ended.request_counts).toEqual({ processing: 0, succeeded: 1, errored: 2, canceled: 1, expired: 1 });
    const results: Record<string, Anthropic.Messages.MessageBatchResult> = {};
    for await (const r of await client.messages.batches.results(b.id)) results[r.custom_id] = r.result;
    expect(results['e-invalid']).toEqual({
      type: 'errored',
      error: { type: 'error', error: { type: 'invalid_request_error', message: 'bad thing' }, request_id: null },
    });
    expect(results['e-overloaded']).toMatchObject({ type: 'errored', error: { error: { type: 'overloaded_error' } } });
    expect(results['x-expired']).toEqual({ type: 'expired' });
    expect(results['c-canceled']).toEqual({ type: 'canceled' });
    expect(results['ok']).toMatchObject({ type: 'succeeded' });
  });

  it('keeps a batch in progress for as long as asked', async () => {
    emu.fault(faults.slowBatch(600)); // far longer than the default 10 ms, with room for a loaded machine
    const slow = await client.messages.batches.create({ requests: [req('a')] });
    const fast = await client.messages.batches.create({ requests: [req('b')] });
    await waitForEnd(client, fast.id);
    expect((await client.messages.batches.retrieve(slow.id)).processing_status).toBe('in_progress');
    await waitForEnd(client, slow.id);
    expect(emu.requests.filter({ method: 'POST', path: '/v1/messages/batches' }).map((r) => r.fault)).toEqual(['batch_latency', undefined]);
  });

  it('HTTP faults on batch endpoints are retried by the SDK like any other', async () => {
    emu.fault(faults.overloaded({ retryAfterMs: 1 }), { method: 'GET', path: '/v1/messages/batches/*' });
    const b = await client.messages.batches.create({ requests: [req('a')] });
    await expect(client.messages.batches.retrieve(b.id)).resolves.toMatchObject({ id: b.id });
    expect(emu.requests.filter({ method: 'GET' }).map((r) => r.status)).toEqual([529, 200]);
  });
});

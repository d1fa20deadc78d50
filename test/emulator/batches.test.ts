import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { faults, ManualClock, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { MODEL, rawFetch, sdk, waitForEnd } from './helpers.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ batchLatencyMs: 30 });
  client = sdk(emu, { maxRetries: 0 });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const params = (content: string, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  max_tokens: 100,
  messages: [{ role: 'user' as const, content }],
  ...extra,
});

const RFC3339_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

async function collect(id: string): Promise<Anthropic.Messages.MessageBatchIndividualResponse[]> {
  const out = [];
  for await (const r of await client.messages.batches.results(id)) out.push(r);
  return out;
}

describe('Message Batches through the SDK', () => {
  it('creates, processes and returns results; counts stay processing until the end', async () => {
    const slow = emu.fault(faults.slowBatch(Infinity));
    const batch = await client.messages.batches.create({
      requests: [
        { custom_id: 'ok-1', params: params('hello one') },
        { custom_id: 'ok_2', params: params('What is 6*7?') },
        { custom_id: 'bad', params: { model: MODEL, messages: [{ role: 'user', content: 'no max_tokens' }] } as never },
      ],
    });
    expect(slow.hits).toBe(1);
    expect(batch).toEqual({
      id: expect.stringMatching(/^msgbatch_[0-9A-Za-z]{24}$/),
      type: 'message_batch',
      processing_status: 'in_progress',
      request_counts: { processing: 3, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
      created_at: expect.stringMatching(RFC3339_MICROS),
      expires_at: expect.stringMatching(RFC3339_MICROS),
      ended_at: null,
      cancel_initiated_at: null,
      archived_at: null,
      results_url: null,
    });
    expect(Date.parse(batch.expires_at) - Date.parse(batch.created_at)).toBe(24 * 3600 * 1000);
    await expect(client.messages.batches.results(batch.id)).rejects.toThrow(/No batch `results_url`/);
    const early = await rawFetch(emu, `/v1/messages/batches/${batch.id}/results`);
    expect(early.status).toBe(404);
    expect(((await early.json()) as any).error.type).toBe('not_found_error');
    await client.messages.batches.cancel(batch.id); // the slow fault held it; this batch is done with

    const real = await client.messages.batches.create({
      requests: [
        { custom_id: 'ok-1', params: params('hello one') },
        { custom_id: 'ok_2', params: params('What is 6*7?') },
        { custom_id: 'bad', params: { model: MODEL, messages: [{ role: 'user', content: 'no max_tokens' }] } as never },
      ],
    });
    const ended = await waitForEnd(client, real.id);
    expect(ended.request_counts).toEqual({ processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 0 });
    expect(ended.ended_at).toMatch(RFC3339_MICROS);
    expect(ended.results_url).toBe(`${emu.url}/v1/messages/batches/${real.id}/results`);

    const results = await collect(real.id);
    const byId = Object.fromEntries(results.map((r) => [r.custom_id, r.result]));
    expect(byId['ok_2']).toMatchObject({ type: 'succeeded', message: { content: [{ type: 'text', text: '42' }], usage: { service_tier: 'batch' } } });
    expect(byId['bad']).toEqual({
      type: 'errored',
      error: { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' }, request_id: null },
    });

    const raw = await rawFetch(emu, `/v1/messages/batches/${real.id}/results`);
    const text = await raw.text();
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('\n\n');
    expect(text.trimEnd().split('\n')).toHaveLength(3);
  });

  it('lists newest first with limit/after_id/before_id pagination and auto-pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await client.messages.batches.create({ requests: [{ custom_id: `r${i}`, params: params(`n${i}`) }] })).id);
    const newestFirst = [...ids].reverse();

    const page = await client.messages.batches.list({ limit: 2 });
    expect(page.data.map((b) => b.id)).toEqual(newestFirst.slice(0, 2));
    expect(page.has_more).toBe(true);
    expect(page.first_id).toBe(newestFirst[0]);
    expect(page.last_id).toBe(newestFirst[1]);

    const all: string[] = [];
    for await (const b of client.messages.batches.list({ limit: 2 })) all.push(b.id);
    expect(all).toEqual(newestFirst);
    const listCalls = emu.requests.filter({ method: 'GET', path: '/v1/messages/batches' });
    expect(listCalls.at(-1)!.query).toEqual({ limit: '2', after_id: newestFirst[3] });

    const before = await client.messages.batches.list({ before_id: newestFirst[3]!, limit: 2 });
    expect(before.data.map((b) => b.id)).toEqual(newestFirst.slice(1, 3));
    expect(before.has_more).toBe(true);

    const rest = await client.messages.batches.list({ after_id: newestFirst[3]!, limit: 10 });
    expect(rest.data.map((b) => b.id)).toEqual([newestFirst[4]]);
    expect(rest.has_more).toBe(false);

    await expect(client.messages.batches.list({ limit: 1001 })).rejects.toBeInstanceOf(Anthropic.BadRequestError);
  });

  it('cancels: in_progress → canceling → ended with unstarted requests canceled', async () => {
    emu.fault(faults.slowBatch(Infinity));
    const batch = await client.messages.batches.create({ requests: [{ custom_id: 'a', params: params('x') }, { custom_id: 'b', params: params('y') }] });
    const canceling = await client.messages.batches.cancel(batch.id);
    expect(canceling.processing_status).toBe('canceling');
    expect(canceling.cancel_initiated_at).toMatch(RFC3339_MICROS);
    expect(canceling.request_counts.processing).toBe(2);
    const ended = await waitForEnd(client, batch.id);
    expect(ended.request_counts).toEqual({ processing: 0, succeeded: 0, errored: 0, canceled: 2, expired: 0 });
    expect((await collect(batch.id)).map((r) => r.result)).toEqual([{ type: 'canceled' }, { type: 'canceled' }]);
    // Cancel after the end returns the batch unchanged.
    expect(await client.messages.batches.cancel(batch.id)).toEqual(ended);
  });

  it('deletes only ended batches', async () => {
    emu.fault(faults.slowBatch(Infinity));
    const held = await client.messages.batches.create({ requests: [{ custom_id: 'a', params: params('x') }] });
    await expect(client.messages.batches.delete(held.id)).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    const quick = await client.messages.batches.create({ requests: [{ custom_id: 'a', params: params('x') }] });
    await waitForEnd(client, quick.id);
    expect(await client.messages.batches.delete(quick.id)).toEqual({ id: quick.id, type: 'message_batch_deleted' });
    await expect(client.messages.batches.retrieve(quick.id)).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    await expect(client.messages.batches.retrieve('msgbatch_nope')).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('rejects malformed batches synchronously', async () => {
    const create = (requests: unknown) => client.messages.batches.create({ requests } as never).then(() => undefined, (e: unknown) => e as APIError);
    const cases: [unknown, string][] = [
      [[], 'requests: List should have at least 1 item after validation, not 0'],
      [[{ custom_id: 'has space', params: params('x') }], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"],
      [[{ custom_id: 'x'.repeat(65), params: params('x') }], "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"],
      [[{ custom_id: 'dup', params: params('x') }, { custom_id: 'dup', params: params('y') }], "requests: custom_id values must be unique within a batch; found duplicate 'dup'"],
      [[{ custom_id: 'a', params: params('x', { stream: true }) }], 'requests.0.params.stream: streaming is not supported in batch requests'],
      [[{ custom_id: 'a', params: params('x', { max_tokens: 0 }) }], 'requests.0.params.max_tokens: Input should be greater than or equal to 1'],
      [[{ custom_id: 'a', params: params('x', { speed: 'fast' }) }], 'requests.0.params.speed: Extra inputs are not permitted'],
    ];
    for (const [requests, message] of cases) {
      const err = await create(requests);
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      expect(err?.apiMessage).toBe(message);
    }
    const limited = await startEmulator({ limits: { batchBodyBytes: 2000 } });
    try {
      const err = await sdk(limited, { maxRetries: 0 })
        .messages.batches.create({ requests: [{ custom_id: 'a', params: params('x'.repeat(3000)) }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.ContentTooLargeError);
    } finally {
      await limited.close();
    }
  });

  it('uses publicBaseUrl for results_url', async () => {
    const pub = await startEmulator({ batchLatencyMs: 0, publicBaseUrl: 'https://claude.example.test/' });
    try {
      const c = sdk(pub);
      const b = await c.messages.batches.create({ requests: [{ custom_id: 'a', params: params('x') }] });
      expect((await waitForEnd(c, b.id)).results_url).toBe(`https://claude.example.test/v1/messages/batches/${b.id}/results`);
    } finally {
      await pub.close();
    }
  });

  it('expires after 24 h and archives results after 29 days of the injected clock', async () => {
    const clock = new ManualClock(Date.parse('2026-11-20T10:00:00Z'));
    const timed = await startEmulator({ clock, batchLatencyMs: Infinity });
    try {
      const c = sdk(timed, { maxRetries: 0 });
      const b = await c.messages.batches.create({ requests: [{ custom_id: 'a', params: params('x') }, { custom_id: 'b', params: params('y') }] });
      expect(b.created_at).toBe('2026-11-20T10:00:00.000000Z');
      clock.advance(24 * 3600 * 1000 - 1);
      expect((await c.messages.batches.retrieve(b.id)).processing_status).toBe('in_progress');
      clock.advance(1);
      const expired = await c.messages.batches.retrieve(b.id);
      expect(expired).toMatchObject({
        processing_status: 'ended',
        ended_at: '2026-11-21T10:00:00.000000Z',
        request_counts: { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 2 },
      });
      const lines = [];
      for await (const r of await c.messages.batches.results(b.id)) lines.push(r);
      expect(lines).toEqual([{ custom_id: 'a', result: { type: 'expired' } }, { custom_id: 'b', result: { type: 'expired' } }]);

      clock.advance(28 * 24 * 3600 * 1000);
      const archived = await c.messages.batches.retrieve(b.id);
      expect(archived.archived_at).toBe('2026-12-19T10:00:00.000000Z');
      expect(archived.request_counts.expired).toBe(2);
      await expect(c.messages.batches.results(b.id)).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    } finally {
      await timed.close();
    }
  });

  it('shuffles results deterministically when asked (clients must match on custom_id)', async () => {
    const shuffled = await startEmulator({ batchLatencyMs: 0, shuffleBatchResults: true });
    try {
      const c = sdk(shuffled);
      const requests = Array.from({ length: 20 }, (_, i) => ({ custom_id: `r${i}`, params: params(`m${i}`) }));
      const b = await c.messages.batches.create({ requests });
      await waitForEnd(c, b.id);
      const order: string[] = [];
      for await (const r of await c.messages.batches.results(b.id)) order.push(r.custom_id);
      expect(order).not.toEqual(requests.map((r) => r.custom_id));
      expect([...order].sort()).toEqual(requests.map((r) => r.custom_id).sort());
    } finally {
      await shuffled.close();
    }
  });

  it('handles 10,000 requests quickly and streams the results', async () => {
    const requests = Array.from({ length: 10_000 }, (_, i) => ({ custom_id: `req-${i}`, params: params(`message number ${i}`) }));
    const b = await client.messages.batches.create({ requests });
    expect(b.request_counts.processing).toBe(10_000);
    // The deadline is the requirement: created and processed well within a few seconds.
    const ended = await waitForEnd(client, b.id, 5_000);
    expect(ended.request_counts.succeeded).toBe(10_000);
    let n = 0;
    for await (const r of await client.messages.batches.results(b.id)) {
      if (r.result.type === 'succeeded') n++;
    }
    expect(n).toBe(10_000);
  });
});

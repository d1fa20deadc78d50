import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { faults, reply, startEmulator, type Emulator, type Responder } from '../../src/emulator/index.js';
import { MODEL, sdk, waitForEnd, weatherTool } from './helpers.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ batchLatencyMs: 5 });
  client = sdk(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const researcherTool = {
  name: 'search_papers',
  description: 'Search academic papers',
  input_schema: { type: 'object' as const, properties: { query: { type: 'string' } }, required: ['query'] },
};

const call = (system: string, content: string, tools: Anthropic.Tool[] = []) =>
  client.messages.create({ model: MODEL, max_tokens: 200, system, tools, messages: [{ role: 'user', content }] });

const text = (m: Anthropic.Message) => m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');

describe('scripting replies', () => {
  it('scripts one agent by its system prompt and tools; replies are consumed in order, then the default answers', async () => {
    const s = emu.script(
      { system: 'You are the researcher', toolNames: ['search_papers'] },
      reply.toolUse('search_papers', { query: 'durable execution' }, { id: 'toolu_fixed_1' }),
      'Found 3 papers.',
    );
    const other = await call('You are the writer', 'hello');
    expect(text(other)).toBe('You said: hello');

    const first = await call('You are the researcher. Be thorough.', 'find things', [researcherTool]);
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content).toEqual([
      { type: 'tool_use', id: 'toolu_fixed_1', name: 'search_papers', input: { query: 'durable execution' }, caller: { type: 'direct' } },
    ]);
    const second = await call('You are the researcher. Be thorough.', 'again', [researcherTool]);
    expect(text(second)).toBe('Found 3 papers.');
    expect(s.done).toBe(true);
    expect(s.calls).toBe(2);
    expect(s.requests[1]!.messages[0]!.content).toBe('again');
    const third = await call('You are the researcher. Be thorough.', 'search papers about agents', [researcherTool]);
    expect(third.content[0]).toMatchObject({ type: 'tool_use', name: 'search_papers' }); // the default responder
  });

  it('repeats the last reply when asked, and matches the latest user text with a RegExp', async () => {
    const s = emu.script({ lastUserText: /^status\b/i }, 'first', 'always').repeatLast();
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(text(await call('sys', `Status ${i}`)));
    expect(answers).toEqual(['first', 'always', 'always', 'always']);
    expect(s.remaining).toBe(Infinity);
    s.cancel();
    expect(text(await call('sys', 'Status again'))).toBe('You said: Status again');
  });

  it('accepts function matchers and function replies that see the request', async () => {
    emu.script(
      (req) => req.messages.length > 1,
      (req, ctx) => reply.text(`turns=${req.messages.length} source=${ctx.source} stream=${ctx.stream}`),
    );
    const m = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
    });
    expect(text(m)).toBe('turns=3 source=messages stream=false');
  });

  it('scripted replies stream as well', async () => {
    emu.script({ stream: true }, reply.thinking('Let me think.', reply.toolUse('get_weather', { city: 'Oslo', unit: 'celsius' }, { text: 'Checking.' })));
    const stream = client.messages.stream({ model: MODEL, max_tokens: 500, tools: [weatherTool], messages: [{ role: 'user', content: 'weather' }] });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text', 'tool_use']);
    expect(final.content[2]).toMatchObject({ input: { city: 'Oslo', unit: 'celsius' } });
    expect(final.stop_reason).toBe('tool_use');
  });

  it('a scripted fault fails just that call; the SDK retry gets the next reply', async () => {
    emu.script({}, faults.overloaded({ retryAfterMs: 1 }), 'recovered');
    const m = await call('sys', 'hi');
    expect(text(m)).toBe('recovered');
    expect(emu.requests.filter({ path: '/v1/messages' }).map((r) => r.status)).toEqual([529, 200]);
  });

  it('a responder that throws yields a 500 naming the problem', async () => {
    emu.script({}, () => {
      throw new Error('boom');
    });
    const err = await sdk(emu, { maxRetries: 0 }).messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect((err as { apiMessage: string }).apiMessage).toBe('emulator responder failed: boom');
  });

  it('scripts batch requests by custom_id', async () => {
    emu.script({ customId: /^sum-/ }, (_req, ctx) => reply.text(`${ctx.customId}:${ctx.batchId?.slice(0, 9)}`)).repeatLast();
    emu.script({ customId: 'broken' }, faults.batchErrored({ type: 'overloaded_error' }));
    const b = await client.messages.batches.create({
      requests: ['sum-1', 'sum-2', 'broken', 'plain'].map((custom_id) => ({
        custom_id,
        params: { model: MODEL, max_tokens: 50, messages: [{ role: 'user' as const, content: custom_id }] },
      })),
    });
    await waitForEnd(client, b.id);
    const out: Record<string, unknown> = {};
    for await (const r of await client.messages.batches.results(b.id)) {
      out[r.custom_id] = r.result.type === 'succeeded' ? text(r.result.message) : r.result.type === 'errored' ? r.result.error.error.type : r.result.type;
    }
    expect(out).toEqual({ 'sum-1': 'sum-1:msgbatch_', 'sum-2': 'sum-2:msgbatch_', broken: 'overloaded_error', plain: 'You said: plain' });
  });

  it('setResponder replaces the default for unscripted calls and can delegate to it', async () => {
    const responder: Responder = (req, ctx) =>
      req.system === 'pirate' ? reply.text('Arr!') : ctx.defaultResponder(req, ctx);
    emu.setResponder(responder);
    try {
      expect(text(await call('pirate', 'hello'))).toBe('Arr!');
      expect(text(await call('landlubber', 'hello'))).toBe('You said: hello');
    } finally {
      emu.setResponder(undefined);
    }
    expect(text(await call('pirate', 'hello'))).toBe('You said: hello');
  });

  it('reset forgets scripts, faults, batches and the log', async () => {
    emu.script({}, 'scripted');
    emu.fault(faults.serverError(), { path: '/v1/messages/count_tokens', times: Infinity });
    await client.messages.batches.create({ requests: [{ custom_id: 'a', params: { model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] } }] });
    emu.reset();
    expect(emu.requests.length).toBe(0);
    expect(emu.listBatches()).toEqual([]);
    expect(text(await call('s', 'hi'))).toBe('You said: hi');
    await expect(client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })).resolves.toBeDefined();
  });
});

describe('request log', () => {
  it('waitFor resolves on a future request and times out otherwise', async () => {
    const waiting = emu.requests.waitFor({ method: 'POST', path: '/v1/messages' }, { includePast: false, timeoutMs: 2000 });
    await call('s', 'hi');
    await expect(waiting).resolves.toMatchObject({ status: 200 });
    await expect(emu.requests.waitFor({ path: '/never' }, { timeoutMs: 20 })).rejects.toThrow(/no matching request/);
  });
});

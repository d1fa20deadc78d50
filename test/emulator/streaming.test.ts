import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { MODEL, rawFetch, sdk, waitUntil, weatherTool } from './helpers.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator();
  client = sdk(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

/** Parses an SSE body strictly: every event must have an event: line and one data: line. */
function parseSse(text: string): { event: string; data: any }[] {
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .trimEnd()
    .split('\n\n')
    .map((chunk) => {
      const lines = chunk.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^event: [a-z_]+$/);
      expect(lines[1]).toMatch(/^data: /);
      return { event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) };
    });
}

describe('streaming through the SDK', () => {
  it('messages.stream: text events, finalText and finalMessage equal to the non-streamed reply', async () => {
    const params = { model: MODEL, max_tokens: 200, messages: [{ role: 'user' as const, content: 'one two three four five six seven' }] };
    const stream = client.messages.stream(params);
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('You said: one two three four five six seven');
    expect(await stream.finalText()).toBe('You said: one two three four five six seven');
    const plain = await client.messages.create(params);
    expect({ ...final, id: 'x' }).toEqual({ ...plain, id: 'x', parsed_output: null });
    expect(emu.requests.last({ path: '/v1/messages' })).toMatchObject({ stream: false });
    const streamed = emu.requests.filter({ path: '/v1/messages' })[0]!;
    expect(streamed).toMatchObject({ stream: true, status: 200 });
    expect(streamed.headers['x-stainless-helper-method']).toBe('stream');
  });

  it('streams tool input as input_json_delta chunks that parse to the final input', async () => {
    const tool = {
      name: 'create_ticket',
      description: 'Create a support ticket',
      input_schema: {
        type: 'object' as const,
        properties: { title: { type: 'string' }, priority: { type: 'integer' } },
        required: ['title', 'priority'],
      },
    };
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 300,
      tools: [tool],
      messages: [{ role: 'user', content: 'Create a support ticket titled "Printer on fire in building seven" with priority 2' }],
    });
    const partials: string[] = [];
    const snapshots: unknown[] = [];
    stream.on('inputJson', (partial, snapshot) => {
      partials.push(partial);
      snapshots.push(snapshot);
    });
    const final = await stream.finalMessage();
    expect(final.stop_reason).toBe('tool_use');
    const input = { title: 'Printer on fire in building seven', priority: 2 };
    expect(final.content).toEqual([expect.objectContaining({ type: 'tool_use', name: 'create_ticket', input })]);
    expect(partials[0]).toBe('');
    expect(partials.length).toBeGreaterThan(3);
    expect(JSON.parse(partials.join(''))).toEqual(input);
    expect(snapshots.at(-1)).toEqual(input);
  });

  it('streams thinking with thinking_delta and signature_delta', async () => {
    const stream = client.messages.stream({ model: MODEL, max_tokens: 500, thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'hello' }] });
    const thinking: string[] = [];
    const signatures: string[] = [];
    stream.on('thinking', (d) => thinking.push(d));
    stream.on('signature', (s) => signatures.push(s));
    const final = await stream.finalMessage();
    expect(final.content[0]).toEqual({ type: 'thinking', thinking: thinking.join(''), signature: signatures[0] });
    expect(signatures).toHaveLength(1);
    expect(final.content[1]).toMatchObject({ type: 'text' });
  });

  it('create({stream: true}) yields the events in order, usage on message_delta', async () => {
    const events = [];
    const stream = await client.messages.create({
      model: MODEL,
      max_tokens: 300,
      stream: true,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    for await (const e of stream) events.push(e);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('message_start');
    expect(types.slice(1, 3)).toEqual(['content_block_start', 'content_block_delta']);
    expect(types.slice(-3)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    const start = events[0] as Anthropic.RawMessageStartEvent;
    expect(start.message).toMatchObject({ content: [], stop_reason: null, stop_sequence: null, usage: { output_tokens: 1 } });
    const delta = events.at(-2) as Anthropic.RawMessageDeltaEvent;
    expect(delta.delta.stop_reason).toBe('tool_use');
    expect(delta.usage.output_tokens).toBeGreaterThan(1);
    expect(delta.usage.input_tokens).toBe(start.message.usage.input_tokens);
  });

  it('frames SSE exactly: event line, one data line, ping after message_start, JSON errors before the stream', async () => {
    const res = await rawFetch(emu, '/v1/messages', {
      method: 'POST',
      headers: { accept: 'application/json' },
      body: JSON.stringify({ model: MODEL, max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const events = parseSse(await res.text());
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) expect(e.data.type).toBe(e.event);
    expect(events[5]!.data.usage).toMatchObject({ output_tokens: expect.any(Number) });

    const bad = await rawFetch(emu, '/v1/messages', {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/json');
    expect(await bad.json()).toMatchObject({ error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  });

  it('reports stop_sequence and max_tokens in the stream too', async () => {
    const s1 = client.messages.stream({ model: MODEL, max_tokens: 100, stop_sequences: ['three'], messages: [{ role: 'user', content: 'one two three four' }] });
    expect(await s1.finalMessage()).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'three' });
    const s2 = client.messages.stream({ model: MODEL, max_tokens: 2, messages: [{ role: 'user', content: 'one two three four' }] });
    expect(await s2.finalMessage()).toMatchObject({ stop_reason: 'max_tokens', usage: { output_tokens: 2 } });
  });

  it('close() ends open streams instead of waiting for them', async () => {
    const slow = await startEmulator({ stream: { eventDelayMs: 200 } });
    const stream = sdk(slow, { maxRetries: 0 }).messages.stream({ model: MODEL, max_tokens: 500, messages: [{ role: 'user', content: 'word '.repeat(50) }] });
    const failed = stream.finalMessage().then(
      () => 'completed',
      () => 'failed',
    );
    await new Promise<void>((resolve) => stream.once('connect', () => resolve()));
    await slow.close();
    expect(await failed).toBe('failed');
  });

  it('survives a client that aborts mid-stream', async () => {
    const slow = await startEmulator({ stream: { eventDelayMs: 20 } });
    try {
      const c = sdk(slow);
      const stream = c.messages.stream({ model: MODEL, max_tokens: 500, messages: [{ role: 'user', content: 'word '.repeat(100) }] });
      let seen = 0;
      await expect(
        (async () => {
          for await (const e of stream) {
            if (e.type === 'content_block_delta' && ++seen === 2) stream.abort();
          }
        })(),
      ).rejects.toBeInstanceOf(Anthropic.APIUserAbortError);
      await waitUntil(() => (slow.requests.length === 1 ? true : undefined));
      await expect(c.messages.create({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'still there?' }] })).resolves.toMatchObject({
        type: 'message',
      });
    } finally {
      await slow.close();
    }
  });
});

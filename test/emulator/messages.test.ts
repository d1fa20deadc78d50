import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { reply, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { MODEL, rawFetch, sdk, weatherTool } from './helpers.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ minCacheableTokens: 50 });
  client = sdk(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const ID = (prefix: string) => new RegExp(`^${prefix}_[0-9A-Za-z]{24}$`);

describe('POST /v1/messages through the SDK', () => {
  it('returns a complete Message with every field, ids and headers as documented', async () => {
    const { data, response } = await client.messages
      .create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'Hello emulator' }] })
      .withResponse();
    expect(data).toEqual({
      id: expect.stringMatching(ID('msg')),
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'text', text: 'You said: Hello emulator', citations: null }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      stop_details: null,
      container: null,
      diagnostics: null,
      usage: {
        input_tokens: expect.any(Number),
        output_tokens: 6,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
        server_tool_use: null,
        service_tier: 'standard',
        inference_geo: 'global',
        output_tokens_details: null,
        speed: 'standard',
      },
    });
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('request-id')).toMatch(ID('req'));
    expect((data as { _request_id?: string })._request_id).toBe(response.headers.get('request-id'));

    const logged = emu.requests.last({ path: '/v1/messages' })!;
    expect(logged).toMatchObject({ method: 'POST', status: 200, retryCount: 0, stream: false, id: (data as { _request_id?: string })._request_id });
    expect(logged.headers.authorization).toBe('Bearer sk-emulator-test');
    expect(logged.body).toMatchObject({ model: MODEL, max_tokens: 100 });
  });

  it('counts input tokens the same way for count_tokens and usage', async () => {
    const params = {
      model: MODEL,
      system: 'You are terse.',
      tools: [weatherTool],
      messages: [{ role: 'user' as const, content: 'Tell me a story about a lighthouse keeper' }],
    };
    const counted = await client.messages.countTokens(params);
    expect(counted).toEqual({ input_tokens: expect.any(Number) });
    const msg = await client.messages.create({ ...params, max_tokens: 50 });
    expect(msg.usage.input_tokens).toBe(counted.input_tokens);
    const bigger = await client.messages.countTokens({ ...params, system: 'You are terse. '.repeat(40) });
    expect(bigger.input_tokens).toBeGreaterThan(counted.input_tokens + 100);
  });

  it('calls tools with stop_reason tool_use and answers from the results', async () => {
    const first = await client.messages.create({
      model: MODEL,
      max_tokens: 200,
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content[0];
    expect(call).toMatchObject({ type: 'tool_use', id: expect.stringMatching(ID('toolu')), name: 'get_weather', input: { city: 'Paris', unit: 'celsius' }, caller: { type: 'direct' } });
    if (call?.type !== 'tool_use') throw new Error('expected tool_use');
    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 200,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sunny, 21°C' }] },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    expect(second.content).toEqual([{ type: 'text', text: 'get_weather returned: Sunny, 21°C', citations: null }]);
  });

  it('stops at a stop sequence and reports which one', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 100,
      stop_sequences: ['STOP', 'beta'],
      messages: [{ role: 'user', content: 'alpha beta gamma' }],
    });
    expect(msg.stop_reason).toBe('stop_sequence');
    expect(msg.stop_sequence).toBe('beta');
    expect(msg.content).toEqual([{ type: 'text', text: 'You said: alpha ', citations: null }]);
  });

  it('truncates at max_tokens, text and tool_use alike', async () => {
    const text = await client.messages.create({ model: MODEL, max_tokens: 3, messages: [{ role: 'user', content: 'a fairly long sentence to echo back' }] });
    expect(text.stop_reason).toBe('max_tokens');
    expect(text.usage.output_tokens).toBe(3);
    // 3 tokens ≈ 12 characters.
    expect(text.content).toEqual([{ type: 'text', text: 'You said: a ', citations: null }]);

    const tool = {
      name: 'book',
      description: 'Book a flight',
      input_schema: {
        type: 'object' as const,
        properties: { origin: { type: 'string' }, destination: { type: 'string' }, notes: { type: 'string' } },
        required: ['origin', 'destination', 'notes'],
      },
    };
    const cut = await client.messages.create({
      model: MODEL,
      max_tokens: 8,
      tools: [tool],
      messages: [{ role: 'user', content: 'Book a flight from Paris to Oslo with a very long note about seating preferences' }],
    });
    expect(cut.stop_reason).toBe('max_tokens');
    expect(cut.content).toEqual([
      expect.objectContaining({ type: 'tool_use', name: 'book', input: { origin: 'Paris' } }),
    ]);

    const none = await client.messages.create({ model: MODEL, max_tokens: 0, messages: [{ role: 'user', content: 'warm the cache' }] });
    expect(none).toMatchObject({ content: [], stop_reason: 'max_tokens', usage: { output_tokens: 0 } });
  });

  it('returns signed thinking that can be passed back, and rejects a modified one', async () => {
    const first = await client.messages.create({
      model: 'claude-haiku-4-5',
      max_tokens: 2000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'weather in Rome?' }],
    });
    expect(first.content.map((b) => b.type)).toEqual(['thinking', 'tool_use']);
    expect(first.usage.output_tokens_details?.thinking_tokens).toBeGreaterThan(0);
    const toolUse = first.content[1]!;
    if (toolUse.type !== 'tool_use') throw new Error('expected tool_use');
    const next = (content: Anthropic.ContentBlockParam[]) =>
      client.messages.create({
        model: 'claude-haiku-4-5',
        max_tokens: 2000,
        thinking: { type: 'enabled', budget_tokens: 1024 },
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'weather in Rome?' },
          { role: 'assistant', content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'Rainy' }] },
        ],
      });
    await expect(next(first.content as Anthropic.ContentBlockParam[])).resolves.toMatchObject({ stop_reason: 'end_turn' });
    const thinking = first.content[0] as Anthropic.ThinkingBlock;
    const tampered = [{ ...thinking, thinking: `${thinking.thinking} (edited)` }, toolUse] as Anthropic.ContentBlockParam[];
    const err = await next(tampered).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as APIError).apiMessage).toBe('messages.1.content.0: Invalid `signature` in `thinking` block');
  });

  it('omits thinking text when display is omitted', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 500,
      thinking: { type: 'adaptive', display: 'omitted' },
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(msg.content[0]).toMatchObject({ type: 'thinking', thinking: '', signature: expect.any(String) });
  });

  it('simulates the prompt cache: a write, then a read of the same prefix', async () => {
    const system: Anthropic.TextBlockParam[] = [
      { type: 'text', text: 'You are a meticulous assistant. '.repeat(20), cache_control: { type: 'ephemeral' } },
    ];
    const ask = (content: string) => client.messages.create({ model: MODEL, max_tokens: 50, system, messages: [{ role: 'user', content }] });
    const a = await ask('first question');
    expect(a.usage.cache_creation_input_tokens).toBeGreaterThan(50);
    expect(a.usage.cache_creation?.ephemeral_5m_input_tokens).toBe(a.usage.cache_creation_input_tokens);
    expect(a.usage.cache_read_input_tokens).toBe(0);
    const b = await ask('second question');
    expect(b.usage.cache_read_input_tokens).toBe(a.usage.cache_creation_input_tokens);
    expect(b.usage.cache_creation_input_tokens).toBe(0);
    const total = (u: Anthropic.Usage) => u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
    expect(total(b.usage)).toBe((await client.messages.countTokens({ model: MODEL, system, messages: [{ role: 'user', content: 'second question' }] })).input_tokens);

    // Top-level cache_control caches the whole prompt (the last block), so the same conversation hits it next time.
    const whole = { model: MODEL, max_tokens: 50, cache_control: { type: 'ephemeral' as const, ttl: '1h' as const }, system: system[0]!.text, messages: [{ role: 'user' as const, content: 'hello' }] };
    const c = await client.messages.create(whole);
    expect(c.usage.cache_creation?.ephemeral_1h_input_tokens).toBeGreaterThan(0);
    expect((await client.messages.create(whole)).usage.cache_read_input_tokens).toBe(c.usage.cache_creation_input_tokens);
  });

  it('reports a refusal scripted by a test', async () => {
    emu.script({}, { content: [{ type: 'text', text: 'No.' }], stop_reason: 'refusal', stop_details: { type: 'refusal', category: 'cyber', explanation: null } });
    const msg = await client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    expect(msg).toMatchObject({ stop_reason: 'refusal', stop_details: { type: 'refusal', category: 'cyber' } });
  });

  it('passes through the other stop reasons a script asks for', async () => {
    emu.script({}, reply.pauseTurn('Searching…'), reply.blocks([{ type: 'text', text: 'cut' }], 'model_context_window_exceeded'));
    const ask = () => client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] });
    expect(await ask()).toMatchObject({ stop_reason: 'pause_turn', content: [{ type: 'text', text: 'Searching…' }] });
    expect(await ask()).toMatchObject({ stop_reason: 'model_context_window_exceeded' });
  });

  it('answers GET /v1/models', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toContain('claude-haiku-5-5');
    await expect(client.models.retrieve('claude-opus-5-5')).resolves.toMatchObject({ max_tokens: 128000, max_input_tokens: 1000000 });
    await expect(client.models.retrieve('claude-nope')).rejects.toBeInstanceOf(Anthropic.NotFoundError);
  });

  it('ignores unknown query parameters and answers unknown paths with a JSON 404', async () => {
    const ok = await rawFetch(emu, '/v1/messages?beta=true', {
      method: 'POST',
      body: JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(ok.status).toBe(200);
    const missing = await rawFetch(emu, '/v1/nothing');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('request-id')).toMatch(ID('req'));
    expect(await missing.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});

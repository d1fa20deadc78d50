import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { MODEL, rawFetch, sdk, weatherTool } from './helpers.js';

let emu: Emulator;
let client: Anthropic;

beforeAll(async () => {
  emu = await startEmulator({ limits: { messagesBodyBytes: 64 * 1024 } });
  client = sdk(emu, { maxRetries: 0 });
});
afterAll(() => emu.close());

const user = (content: string) => ({ role: 'user' as const, content });

/** Sends a raw body through the SDK (to reach the server with shapes the SDK's types forbid) and returns the error. */
async function rejectBody(body: Record<string, unknown>, c: Anthropic = client): Promise<APIError> {
  const err = await c.messages.create(body as never).catch((e: unknown) => e);
  if (!(err instanceof Anthropic.APIError)) throw new Error(`expected an APIError, got ${String(err)}`);
  return err;
}

describe('authentication and headers', () => {
  it('accepts Bearer and x-api-key; rejects a request without a key with 401', async () => {
    const ok = await rawFetch(emu, '/v1/messages/count_tokens', {
      method: 'POST',
      headers: { authorization: '', 'x-api-key': 'any-key' },
      body: JSON.stringify({ model: MODEL, messages: [user('x')] }),
    });
    expect(ok.status).toBe(200);
    const none = await rawFetch(emu, '/v1/messages/count_tokens', {
      method: 'POST',
      headers: { authorization: '' },
      body: JSON.stringify({ model: MODEL, messages: [user('x')] }),
    });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'x-api-key header is required' },
      request_id: none.headers.get('request-id'),
    });
  });

  it('accepts only the configured key when apiKey is set (x-api-key wins over Bearer)', async () => {
    const locked = await startEmulator({ apiKey: 'right' });
    try {
      const wrong = sdk(locked, { apiKey: 'wrong', maxRetries: 0 });
      const err = await wrong.messages.create({ model: MODEL, max_tokens: 5, messages: [user('x')] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((err as APIError).requestID).toMatch(/^req_/);
      await expect(sdk(locked, { apiKey: 'right' }).messages.countTokens({ model: MODEL, messages: [user('x')] })).resolves.toBeDefined();
      const both = await fetch(`${locked.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'x-api-key': 'right', authorization: 'Bearer wrong', 'anthropic-version': '2026-10-21', 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [user('x')] }),
      });
      expect(both.status).toBe(200);
    } finally {
      await locked.close();
    }
  });

  it('requires a known anthropic-version', async () => {
    const body = JSON.stringify({ model: MODEL, messages: [user('x')] });
    const missing = await rawFetch(emu, '/v1/messages/count_tokens', { method: 'POST', headers: { 'anthropic-version': '' }, body });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as any).error.message).toBe('anthropic-version: header is required');
    const unknown = await rawFetch(emu, '/v1/messages/count_tokens', { method: 'POST', headers: { 'anthropic-version': '2099-01-01' }, body });
    expect(((await unknown.json()) as any).error.message).toBe('anthropic-version: "2099-01-01" is not a valid version');
  });

  it('rejects unknown betas only in strict mode', async () => {
    await expect(client.messages.countTokens({ model: MODEL, messages: [user('x')] }, { headers: { 'anthropic-beta': 'made-up-2030-01-01' } })).resolves.toBeDefined();
    const strict = await startEmulator({ strict: { betas: true } });
    try {
      const c = sdk(strict, { maxRetries: 0 });
      await expect(c.messages.countTokens({ model: MODEL, messages: [user('x')] }, { headers: { 'anthropic-beta': 'made-up-2030-01-01' } })).rejects.toBeInstanceOf(
        Anthropic.BadRequestError,
      );
      await expect(c.beta.messages.countTokens({ model: MODEL, messages: [user('x')], betas: ['context-1m-2025-08-07'] })).resolves.toBeDefined();
    } finally {
      await strict.close();
    }
  });
});

describe('request validation', () => {
  it('rejects sampling parameters under 2026-10-21 and accepts them under 2023-06-01', async () => {
    const err = await rejectBody({ model: MODEL, max_tokens: 5, temperature: 1, messages: [user('x')] });
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect(err.apiMessage).toBe('temperature: Extra inputs are not permitted');
    expect((await rejectBody({ model: MODEL, max_tokens: 5, top_k: 5, messages: [user('x')] })).apiMessage).toBe('top_k: Extra inputs are not permitted');

    const old = sdk(emu, { maxRetries: 0, defaultHeaders: { 'anthropic-version': '2023-06-01' } });
    await expect(old.messages.create({ model: 'claude-haiku-4-5', max_tokens: 5, temperature: 0.2, messages: [user('x')] } as never)).resolves.toBeDefined();
    // Newer models reject non-default sampling even on the old version.
    expect((await rejectBody({ model: MODEL, max_tokens: 5, temperature: 0.2, messages: [user('x')] }, old)).status).toBe(400);
  });

  it('404s an unknown model', async () => {
    const err = await rejectBody({ model: 'claude-imaginary-9', max_tokens: 5, messages: [user('x')] });
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.type).toBe('not_found_error');
    expect(err.apiMessage).toBe('model: claude-imaginary-9');
  });

  it('reports missing and extra fields like the API', async () => {
    expect((await rejectBody({ model: MODEL, messages: [user('x')] })).apiMessage).toBe('max_tokens: Field required');
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [user('x')], foo: 1 })).apiMessage).toBe('foo: Extra inputs are not permitted');
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [] })).apiMessage).toBe('messages: at least one message is required');
    expect((await rejectBody({ model: MODEL, max_tokens: -1, messages: [user('x')] })).apiMessage).toBe('max_tokens: Input should be greater than or equal to 0');
    expect((await rejectBody({ model: MODEL, max_tokens: 128_001, messages: [user('x')] }, sdk(emu, { maxRetries: 0, timeout: 60_000 }))).apiMessage).toBe(
      `max_tokens: 128001 > 128000, which is the maximum allowed number of output tokens for ${MODEL}`,
    );
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [{ role: 'robot', content: 'x' }] })).apiMessage).toBe(
      "messages.0.role: Input should be 'user', 'assistant' or 'system'",
    );
  });

  it('enforces tool_use / tool_result pairing with the real messages', async () => {
    const call = { type: 'tool_use', id: 'toolu_01abc', name: 'get_weather', input: { city: 'Paris' } };
    const noResult = await rejectBody({
      model: MODEL,
      max_tokens: 5,
      tools: [weatherTool],
      messages: [user('weather?'), { role: 'assistant', content: [call] }, user('well?')],
    });
    expect(noResult).toBeInstanceOf(Anthropic.BadRequestError);
    expect(noResult.apiMessage).toBe(
      'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01abc. Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
    );
    const stray = await rejectBody({
      model: MODEL,
      max_tokens: 5,
      messages: [user('hi'), { role: 'assistant', content: 'hello' }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'r' }] }],
    });
    expect(stray.apiMessage).toBe(
      'messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_x. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
    );
  });

  it('checks roles, prefill and content', async () => {
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [{ role: 'assistant', content: 'hi' }] })).apiMessage).toBe(
      'messages: first message must use the "user" role',
    );
    expect((await rejectBody({ model: 'claude-opus-4-7', max_tokens: 5, messages: [user('hi'), { role: 'assistant', content: 'The answer is' }] })).apiMessage).toBe(
      'Prefilling assistant messages is not supported for this model.',
    );
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [user('hi'), { role: 'system', content: 'be nice' }] })).apiMessage).toBe(
      "messages.1: role 'system' is not supported on this model",
    );
    await expect(
      client.messages.create({ model: 'claude-opus-4-8', max_tokens: 5, messages: [user('hi'), { role: 'system', content: 'be nice' }] }),
    ).resolves.toBeDefined();
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [user('')] })).apiMessage).toBe(
      'messages.0: all messages must have non-empty content except for the optional final assistant message',
    );
    // Consecutive same-role turns are merged, not rejected.
    await expect(client.messages.create({ model: MODEL, max_tokens: 5, messages: [user('a'), user('b')] })).resolves.toBeDefined();
  });

  it('checks tools, tool_choice, thinking and cache breakpoints', async () => {
    expect((await rejectBody({ model: MODEL, max_tokens: 5, tools: [weatherTool, weatherTool], messages: [user('x')] })).apiMessage).toBe(
      'tools: Tool names must be unique.',
    );
    expect((await rejectBody({ model: MODEL, max_tokens: 5, tools: [{ ...weatherTool, name: 'bad name' }], messages: [user('x')] })).apiMessage).toBe(
      "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    );
    expect((await rejectBody({ model: MODEL, max_tokens: 5, tool_choice: { type: 'any' }, messages: [user('x')] })).apiMessage).toBe(
      'tool_choice may only be specified while providing tools.',
    );
    expect((await rejectBody({ model: MODEL, max_tokens: 5000, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [user('x')] })).apiMessage).toBe(
      'thinking.type.enabled is not supported for this model. Use thinking.type.adaptive instead.',
    );
    expect(
      (await rejectBody({ model: 'claude-haiku-4-5', max_tokens: 1500, thinking: { type: 'enabled', budget_tokens: 2000 }, messages: [user('x')] })).apiMessage,
    ).toBe('`max_tokens` must be greater than `thinking.budget_tokens`.');
    const cc = { type: 'ephemeral' };
    const blocks = Array.from({ length: 5 }, (_, i) => ({ type: 'text', text: `part ${i}`, cache_control: cc }));
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: blocks }] })).apiMessage).toBe(
      'A maximum of 4 blocks with cache_control may be provided. Found 5.',
    );
  });

  it('applies version rules to content blocks', async () => {
    const cited = { type: 'text', text: 'x', citations: [{ type: 'char_location', cited_text: 'x', document_index: 0, start_char_index: 0, end_char_index: 1 }] };
    expect((await rejectBody({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: [cited] }] })).status).toBe(400);
  });

  it('count_tokens rejects create-only fields', async () => {
    const err = await client.messages.countTokens({ model: MODEL, max_tokens: 5, messages: [user('x')] } as never).catch((e: unknown) => e);
    expect((err as APIError).apiMessage).toBe('max_tokens: Extra inputs are not permitted');
  });

  it('rejects oversized bodies with 413 request_too_large and malformed JSON with 400', async () => {
    const err = await rejectBody({ model: MODEL, max_tokens: 5, messages: [user('x'.repeat(70 * 1024))] });
    expect(err).toBeInstanceOf(Anthropic.ContentTooLargeError);
    expect(err.status).toBe(413);
    expect(err.type).toBe('request_too_large');
    const bad = await rawFetch(emu, '/v1/messages', { method: 'POST', body: '{"model": ' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.type).toBe('invalid_request_error');
  });

  it('rejects a prompt longer than the context window', async () => {
    const small = await startEmulator({ models: { 'tiny-model': { contextWindow: 100, maxOutputTokens: 100 } } });
    try {
      const err = await rejectBody({ model: 'tiny-model', max_tokens: 5, messages: [user('word '.repeat(200))] }, sdk(small, { maxRetries: 0 }));
      expect(err.apiMessage).toMatch(/^prompt is too long: \d+ tokens > 100 maximum$/);
    } finally {
      await small.close();
    }
  });

  it('every error carries the request-id header and body field', async () => {
    const err = await rejectBody({ model: MODEL, messages: [user('x')] });
    expect(err.requestID).toMatch(/^req_[0-9A-Za-z]{24}$/);
    expect((err.error as { request_id: string }).request_id).toBe(err.requestID);
    expect(emu.requests.last({ path: '/v1/messages' })).toMatchObject({ status: 400, id: err.requestID });
  });
});

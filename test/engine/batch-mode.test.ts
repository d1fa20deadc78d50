import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reply, faults } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import { cancelTool, discardTool, snoozeTool } from '../../src/tools/errors.js';
import { NotFoundError, RunFailedError } from '../../src/errors.js';
import type { AgentPG } from '../../src/client.js';
import type { ToolContext } from '../../src/tools/define.js';
import { engineEnv, integrityProblems, type EngineEnv } from '../support/engine.js';

let env: EngineEnv;
let client: AgentPG<import('pg').PoolClient>;
const calls: Record<string, { input: unknown; ctx: ToolContext }[]> = {};
const record = (name: string, input: unknown, ctx: ToolContext) => (calls[name] ??= []).push({ input, ctx });
let flakyFailures = 0;
let snoozed = false;

const tools = [
  defineTool({
    name: 'get_weather',
    description: 'Get the current weather for a city',
    input: z.object({ city: z.string() }),
    execute: ({ city }, ctx) => {
      record('get_weather', { city }, ctx);
      return `Sunny in ${city}`;
    },
  }),
  defineTool({
    name: 'add',
    description: 'Add two numbers',
    input: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }, ctx) => {
      record('add', { a, b }, ctx);
      return { sum: a + b };
    },
  }),
  defineTool({
    name: 'flaky',
    description: 'Fails once, then works',
    input: z.object({}),
    execute: (_i, ctx) => {
      record('flaky', {}, ctx);
      if (flakyFailures++ === 0) throw new Error('transient glitch');
      return 'worked on retry';
    },
  }),
  defineTool({
    name: 'broken',
    description: 'Always fails',
    input: z.object({}),
    maxAttempts: 2,
    execute: async (_i, ctx) => {
      record('broken', {}, ctx);
      return Promise.reject(new Error('disk on fire'));
    },
  }),
  defineTool({
    name: 'cancels',
    description: 'Cancels itself',
    input: z.object({}),
    execute: () => {
      throw cancelTool('user revoked access');
    },
  }),
  defineTool({
    name: 'discards',
    description: 'Discards itself',
    input: z.object({}),
    execute: () => {
      throw discardTool('record no longer exists');
    },
  }),
  defineTool({
    name: 'snoozes',
    description: 'Snoozes once',
    input: z.object({}),
    execute: (_i, ctx) => {
      record('snoozes', {}, ctx);
      if (!snoozed) {
        snoozed = true;
        throw snoozeTool(20);
      }
      return 'awake';
    },
  }),
  defineTool({
    name: 'inspect',
    description: 'Reports its context',
    input: z.object({}),
    execute: (_i, ctx) => {
      record('inspect', {}, ctx);
      return 'inspected';
    },
  }),
];

beforeAll(async () => {
  env = await engineEnv();
  client = env.client(process.env.DEBUG_AGENTPG ? { logger: (await import('../../src/logger.js')).consoleLogger('debug') } : {});
  for (const t of tools) client.registerTool(t);
  await client.start();
});
afterAll(async () => {
  await env?.close();
});

async function agent(name: string, toolNames: string[] = [], extra: Record<string, unknown> = {}) {
  return client.createAgent({ name, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, tools: toolNames, ...extra });
}

function requestsFor(system: string) {
  return env.emu.requests.all().filter((r) => r.path === '/v1/messages/batches' && r.method === 'POST').flatMap((r) =>
    ((r.body as { requests: { custom_id: string; params: { system?: string; messages: unknown[] } }[] }).requests ?? []).filter((q) =>
      String(q.params.system ?? '').includes(system),
    ),
  );
}

describe('batch mode', () => {
  it('answers a plain prompt through a Message Batch', async () => {
    const a = await agent('plain');
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'What is 2+2?', { timeoutMs: 20_000 });
    expect(res.text).toContain('4');
    expect(res.stopReason).toBe('end_turn');
    expect(res.iterationCount).toBe(1);
    expect(res.usage.inputTokens).toBeGreaterThan(0);
    expect(res.usage.outputTokens).toBeGreaterThan(0);
    expect(res.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    const [it1] = await client.getRunIterations(res.runId);
    expect(it1).toMatchObject({ index: 1, state: 'completed', mode: 'batch', stopReason: 'end_turn' });
    expect(it1!.anthropicBatchId).toMatch(/^msgbatch_/);
    expect(await client.getRun(res.runId)).toMatchObject({ state: 'completed', responseText: res.text, finalizedAt: expect.any(Date) });
  });

  it('runs parallel tool calls over several iterations and answers tool results in the model order', async () => {
    const a = await agent('weather_bot', ['get_weather', 'add']);
    env.emu.script(
      { system: 'You are weather_bot.' },
      reply.toolUses([
        { name: 'get_weather', input: { city: 'Paris' } },
        { name: 'get_weather', input: { city: 'Berlin' } },
        { name: 'add', input: { a: 2, b: 3 } },
      ]),
      reply.toolUse('get_weather', { city: 'Rome' }),
      reply.text('Paris and Berlin are sunny, 2+3=5, Rome too.'),
    );
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'Weather in Paris and Berlin, and 2+3?', { timeoutMs: 20_000 });
    expect(res.text).toBe('Paris and Berlin are sunny, 2+3=5, Rome too.');
    expect(res.iterationCount).toBe(3);
    expect(res.toolCalls.map((c) => [c.name, c.output, c.iteration])).toEqual([
      ['get_weather', 'Sunny in Paris', 1],
      ['get_weather', 'Sunny in Berlin', 1],
      ['add', '{"sum":5}', 1],
      ['get_weather', 'Sunny in Rome', 2],
    ]);
    expect(res.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    const second = requestsFor('You are weather_bot.')[1]!.params.messages as { role: string; content: { type: string; content?: unknown }[] }[];
    const results = second.at(-1)!.content;
    expect(results.map((b) => [b.type, b.content])).toEqual([
      ['tool_result', 'Sunny in Paris'],
      ['tool_result', 'Sunny in Berlin'],
      ['tool_result', '{"sum":5}'],
    ]);
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('handles every tool error kind: retry, retries exhausted, cancel, discard, snooze', async () => {
    const a = await agent('error_bot', ['flaky', 'broken', 'cancels', 'discards', 'snoozes']);
    env.emu.script(
      { system: 'You are error_bot.' },
      reply.toolUses(['flaky', 'broken', 'cancels', 'discards', 'snoozes'].map((name) => ({ name }))),
      reply.text('handled'),
    );
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'Try everything', { timeoutMs: 20_000 });
    expect(res.text).toBe('handled');
    const byName = Object.fromEntries(res.toolCalls.map((c) => [c.name, c]));
    expect(byName.flaky).toMatchObject({ state: 'completed', isError: false, output: 'worked on retry', attempts: 2 });
    expect(byName.broken).toMatchObject({ state: 'failed', isError: true, attempts: 2 });
    expect(byName.broken!.output).toMatch(/disk on fire/);
    expect(byName.cancels).toMatchObject({ state: 'cancelled', isError: true, attempts: 1 });
    expect(byName.discards).toMatchObject({ state: 'discarded', isError: true, attempts: 1 });
    expect(String(byName.discards!.output)).toMatch(/record no longer exists/);
    expect(byName.snoozes).toMatchObject({ state: 'completed', output: 'awake', attempts: 1 });
    const execs = await client.getRunTools(res.runId);
    expect(execs.find((e) => e.toolName === 'snoozes')!.snoozeCount).toBe(1);
    expect(calls.broken).toHaveLength(2);
    expect(calls.flaky!.map((c) => c.ctx.attempt)).toEqual([1, 2]);
    // One stable idempotency key across the retry.
    expect(new Set(calls.flaky!.map((c) => c.ctx.executionId)).size).toBe(1);
    const second = requestsFor('You are error_bot.')[1]!.params.messages as { content: { is_error?: boolean }[] }[];
    expect(second.at(-1)!.content.map((b) => b.is_error)).toEqual([false, true, true, true, false]);
  });

  it('answers schema-invalid tool input with an error result and never runs the tool', async () => {
    const a = await agent('invalid_bot', ['get_weather']);
    const before = calls.get_weather?.length ?? 0;
    env.emu.script({ system: 'You are invalid_bot.' }, reply.toolUse('get_weather', { city: 42 }), reply.text('sorry'));
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'weather?', { timeoutMs: 20_000 });
    expect(res.toolCalls[0]).toMatchObject({ name: 'get_weather', state: 'failed', isError: true });
    expect(String(res.toolCalls[0]!.output)).toMatch(/invalid input.*city/);
    expect(calls.get_weather?.length ?? 0).toBe(before);
  });

  it('hands variables and the call context to tools with their JSON types', async () => {
    const a = await agent('ctx_bot', ['inspect']);
    env.emu.script({ system: 'You are ctx_bot.' }, reply.toolUse('inspect', {}, { id: 'toolu_fixed_ctx_1' }), reply.text('ok'));
    const s = await client.newSession();
    const variables = { count: 3, ratio: 0.5, big: 12345678901, flag: true, none: null, name: 'x', nested: { list: [1, 'two', false] } };
    const res = await client.runSync(s, a.id, 'inspect yourself', { variables, timeoutMs: 20_000 });
    const { ctx } = calls.inspect!.at(-1)!;
    expect(ctx.variables).toEqual(variables);
    expect(typeof ctx.variables.count).toBe('number');
    expect(ctx).toMatchObject({ runId: res.runId, sessionId: s, agentId: a.id, toolUseId: 'toolu_fixed_ctx_1', attempt: 1 });
    expect(ctx.executionId).toBe((await client.getRunTools(res.runId))[0]!.id);
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
  });

  it('answers a tool the agent does not offer with an error result and goes on', async () => {
    const a = await agent('ghost_bot', ['add']);
    env.emu.script({ system: 'You are ghost_bot.' }, reply.toolUse('launch_missiles', {}), reply.text('could not'));
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'go', { timeoutMs: 20_000 });
    expect(res.text).toBe('could not');
    expect(res.toolCalls[0]).toMatchObject({ name: 'launch_missiles', state: 'failed', isError: true });
  });

  it('runTx is visible to workers only after commit, and gone after rollback', async () => {
    const a = await agent('tx_bot');
    const s = await client.newSession();
    const conn = await env.m.pool.connect();
    try {
      await conn.query('BEGIN');
      const pendingId = await client.runTx(conn, s, a.id, 'committed later');
      // Another run goes all the way through while the first is uncommitted: workers never saw it.
      await client.runSync(s, a.id, 'meanwhile', { timeoutMs: 20_000 });
      await expect(client.getRun(pendingId)).rejects.toBeInstanceOf(NotFoundError);
      expect(requestsFor('You are tx_bot.').some((r) => JSON.stringify(r.params.messages).includes('committed later'))).toBe(false);
      await conn.query('COMMIT');
      const res = await client.waitForRun(pendingId, { timeoutMs: 20_000 });
      expect(res.messages[0]!.content).toEqual([{ type: 'text', text: 'committed later' }]);

      await conn.query('BEGIN');
      const rolledBack = await client.runTx(conn, s, a.id, 'never happens');
      await conn.query('ROLLBACK');
      await client.runSync(s, a.id, 'after rollback', { timeoutMs: 20_000 });
      await expect(client.getRun(rolledBack)).rejects.toBeInstanceOf(NotFoundError);
      expect(requestsFor('You are tx_bot.').some((r) => JSON.stringify(r.params.messages).includes('never happens'))).toBe(false);
    } finally {
      conn.release();
    }
  });

  it('requeues a retriable batch error and an expired result, and fails on an invalid request', async () => {
    const a = await agent('fault_bot');
    const s = await client.newSession();
    env.emu.fault(faults.batchErrored({ type: 'overloaded_error' }), { match: { system: 'You are fault_bot.' } });
    const r1 = await client.runSync(s, a.id, 'first', { timeoutMs: 20_000 });
    expect((await client.getRunIterations(r1.runId))[0]).toMatchObject({ attempt: 1, state: 'completed' });

    env.emu.fault(faults.batchExpired(), { match: { system: 'You are fault_bot.' } });
    const r2 = await client.runSync(s, a.id, 'second', { timeoutMs: 20_000 });
    expect((await client.getRunIterations(r2.runId))[0]).toMatchObject({ attempt: 1, state: 'completed' });

    env.emu.fault(faults.batchErrored({ type: 'invalid_request_error', message: 'messages: bad thing' }), { match: { system: 'You are fault_bot.' } });
    const err = await client.runSync(s, a.id, 'third', { timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err.errorType).toBe('invalid_request');
    expect(err.message).toMatch(/messages: bad thing/);
  });

  it('continues after max_tokens, never runs a truncated tool call, and can fail instead', async () => {
    const a = await agent('long_bot', ['get_weather']);
    env.emu.script({ system: 'You are long_bot.' }, reply.text('The first half, ', 'max_tokens'), reply.text('and the second half.'));
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'tell me a long story', { timeoutMs: 20_000 });
    expect(res.text).toBe('The first half, and the second half.');
    expect(res.iterationCount).toBe(2);

    const before = calls.get_weather?.length ?? 0;
    env.emu.script(
      { system: 'You are long_bot.' },
      reply.blocks([{ type: 'tool_use', name: 'get_weather', input: { city: 'Par' } }], 'max_tokens'),
      reply.text('retrying not needed'),
    );
    const res2 = await client.runSync(s, a.id, 'weather?', { timeoutMs: 20_000 });
    expect(calls.get_weather?.length ?? 0).toBe(before);
    expect(res2.toolCalls[0]).toMatchObject({ state: 'skipped', isError: true });
    expect(String(res2.toolCalls[0]!.output)).toMatch(/cut off by max_tokens/);

    const strict = await agent('strict_bot');
    env.emu.script({ system: 'You are strict_bot.' }, reply.text('cut', 'max_tokens'));
    const failing = env.client({ maxTokensBehavior: 'fail' });
    const err = await (async () => {
      // A second client on the same database shares the work; only its policy differs, so route the run to it.
      await client.stop();
      await failing.start();
      try {
        return await failing.runSync(await failing.newSession(), strict.id, 'go', { timeoutMs: 20_000 }).catch((e) => e);
      } finally {
        await failing.stop();
      }
    })();
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err.errorType).toBe('max_tokens');
    client = env.client();
    for (const t of tools) client.registerTool(t);
    await client.start();
  });

  it('ends a runaway tool loop at maxIterations with every tool_use answered', async () => {
    const a = await agent('loop_bot', ['add']);
    const before = calls.add?.length ?? 0;
    env.emu.script({ system: 'You are loop_bot.' }, reply.toolUse('add', { a: 1, b: 1 })).repeatLast();
    const s = await client.newSession();
    const err = await client.runSync(s, a.id, 'loop forever', { maxIterations: 3, timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    expect(err.errorType).toBe('max_iterations');
    const run = await client.getRun(err.runId);
    expect(run).toMatchObject({ state: 'failed', iterationCount: 3 });
    expect((calls.add?.length ?? 0) - before).toBe(2);
    const execs = await client.getRunTools(err.runId);
    expect(execs.map((e) => e.state)).toEqual(['completed', 'completed', 'skipped']);
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('continues after pause_turn and completes on refusal with the stop reason visible', async () => {
    const a = await agent('pause_bot');
    env.emu.script({ system: 'You are pause_bot.' }, reply.pauseTurn('Searching... '), reply.text('found it.'), reply.refusal('No.'));
    const s = await client.newSession();
    const res = await client.runSync(s, a.id, 'search', { timeoutMs: 20_000 });
    expect(res.text).toBe('Searching... found it.');
    const refused = await client.runSync(s, a.id, 'do something bad', { timeoutMs: 20_000 });
    expect(refused.stopReason).toBe('refusal');
    expect((await client.getRun(refused.runId)).state).toBe('completed');
  });

  it('carries the session history into the next run', async () => {
    const a = await agent('memory_bot');
    const s = await client.newSession();
    await client.runSync(s, a.id, 'My name is Ada.', { timeoutMs: 20_000 });
    await client.runSync(s, a.id, 'What is my name?', { timeoutMs: 20_000 });
    const last = requestsFor('You are memory_bot.').at(-1)!.params.messages as { role: string }[];
    expect(last.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(JSON.stringify(last[0])).toContain('My name is Ada.');
  });
});

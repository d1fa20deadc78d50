import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { reply, type MessageRequest } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import type { AgentPG } from '../../src/client.js';
import type { RunEvent } from '../../src/engine/events.js';
import { engineEnv, integrityProblems, type EngineEnv } from '../support/engine.js';
import { waitFor } from '../support/db.js';

let env: EngineEnv;
let client: AgentPG<import('pg').PoolClient>;
const hookLog: string[] = [];

beforeAll(async () => {
  env = await engineEnv();
  client = env.client({
    maxConcurrentStreamingRuns: 5,
    hooks: {
      onRunStateChange: (e) => void hookLog.push(`state:${e.state}`),
      onIterationStart: (e) => void hookLog.push(`iteration_start:${e.index}:${e.mode}`),
      onIterationEnd: (e) => {
        hookLog.push(`iteration_end:${e.index}`);
        throw new Error('a hook that throws must not break the engine');
      },
      onToolStart: (e) => void hookLog.push(`tool_start:${e.toolName}`),
      onToolEnd: async (e) => {
        hookLog.push(`tool_end:${e.toolName}:${e.state}`);
        return Promise.reject(new Error('async hook failure'));
      },
    },
  });
  client.registerTool(
    defineTool({ name: 'lookup', description: 'Look up a fact', input: z.object({ q: z.string() }), execute: ({ q }) => `fact about ${q}` }),
  );
  await client.start();
});
afterAll(async () => {
  await env?.close();
});

const agent = (name: string, tools: string[] = []) =>
  client.createAgent({ name, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, tools });

describe('fast mode', () => {
  it('answers through the streaming API with tools, and fires hooks that cannot break it', async () => {
    const a = await agent('fast_bot', ['lookup']);
    env.emu.script({ system: 'You are fast_bot.' }, reply.toolUse('lookup', { q: 'owls' }), reply.text('Owls are birds.'));
    const s = await client.newSession();
    hookLog.length = 0;
    const res = await client.runFastSync(s, a.id, 'Tell me about owls', { timeoutMs: 20_000 });
    expect(res.text).toBe('Owls are birds.');
    expect(res.toolCalls.map((c) => c.output)).toEqual(['fact about owls']);
    const its = await client.getRunIterations(res.runId);
    expect(its.map((i) => [i.mode, i.state, i.batchId])).toEqual([
      ['streaming', 'completed', null],
      ['streaming', 'completed', null],
    ]);
    expect(env.emu.requests.all().filter((r) => r.path === '/v1/messages' && r.stream).length).toBeGreaterThanOrEqual(2);
    await waitFor(() => hookLog.includes('state:completed'), { message: 'completed hook' });
    expect(hookLog).toEqual(
      expect.arrayContaining(['iteration_start:1:streaming', 'iteration_end:1', 'state:pending_tools', 'tool_start:lookup', 'tool_end:lookup:completed', 'iteration_start:2:streaming', 'state:completed']),
    );
    expect(hookLog.indexOf('tool_start:lookup')).toBeLessThan(hookLog.indexOf('iteration_start:2:streaming'));
  });

  it('runs N slow streams of one instance at the same time', async () => {
    const a = await agent('slow_bot');
    let inFlight = 0;
    let peak = 0;
    // Each stream waits until all five are in flight at once: with one stream at a time this would never happen.
    env.emu
      .script({ system: 'You are slow_bot.' }, async (_req: MessageRequest) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await waitFor(() => peak >= 5, { timeoutMs: 15_000, message: 'five concurrent streams' }).finally(() => inFlight--);
        return reply.text('done slowly');
      })
      .repeatLast();
    const sessions = await Promise.all(Array.from({ length: 5 }, () => client.newSession()));
    const results = await Promise.all(sessions.map((s) => client.runFastSync(s, a.id, 'take your time', { timeoutMs: 20_000 })));
    expect(results.map((r) => r.text)).toEqual(Array(5).fill('done slowly'));
    expect(peak).toBe(5);
  });

  it('lets another process follow a run live: deltas, tool calls, iterations, done', async () => {
    const a = await agent('live_bot', ['lookup']);
    const long = 'The answer streams in many small pieces. '.repeat(40).trim();
    let out = '';
    // The answer is held back until the follower has seen the tool call: it is then provably listening when
    // the text streams. Everything else it derives from rows, so starting late loses nothing.
    env.emu.script(
      { system: 'You are live_bot.' },
      reply.toolUse('lookup', { q: 'streams' }),
      async () => {
        await waitFor(() => out.includes('"tool_end"'), { timeoutMs: 15_000, message: 'follower saw the tool call' });
        return reply.text(long);
      },
    );
    const s = await client.newSession();
    const runId = await client.runFast(s, a.id, 'explain streaming');
    const follower = spawn(process.execPath, [fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url)), fileURLToPath(new URL('../support/events-follower.ts', import.meta.url))], {
      env: { ...process.env, AGENTPG_TEST_DB: env.m.db.url, AGENTPG_RUN_ID: runId },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    follower.stdout!.on('data', (d) => (out += d));
    follower.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => follower.on('exit', r));
    expect(await exited).toBe(0);
    const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunEvent & Record<string, unknown>);
    const kinds = events.map((e) => e.type);
    expect(kinds[0]).toBe('run_state');
    expect(kinds.at(-1)).toBe('done');
    const order = ['iteration_start', 'iteration_end', 'tool_start', 'tool_end', 'iteration_start', 'text_delta', 'iteration_end', 'done'];
    let pos = 0;
    for (const k of kinds) if (k === order[pos]) pos++;
    expect(pos, `events: ${kinds.join(',')}`).toBe(order.length);
    const deltas = events.filter((e) => e.type === 'text_delta').map((e) => e.text as string).join('');
    expect(deltas).toBe(long);
    expect(events.at(-1)).toMatchObject({ type: 'done', state: 'completed', text: long });
    expect(events.find((e) => e.type === 'tool_end')).toMatchObject({ name: 'lookup', output: 'fact about streams', isError: false });
  });

  it('regenerates a finished run: same inputs, the old messages leave the live history', async () => {
    const a = await agent('regen_bot');
    env.emu.script({ system: 'You are regen_bot.' }, 'first answer', 'second answer', 'follow-up answer');
    const s = await client.newSession();
    const first = await client.runFastSync(s, a.id, 'Give me an answer', { variables: { k: 1 }, timeoutMs: 20_000 });
    const newId = await client.regenerateRun(first.runId);
    const second = await client.waitForRun(newId, { timeoutMs: 20_000 });
    expect(second.text).toBe('second answer');
    expect((await client.getRun(newId)).variables).toEqual({ k: 1 });
    await expect(client.regenerateRun(first.runId)).rejects.toMatchObject({ code: 'conflict' });
    const live = await client.getSessionMessages(s);
    expect(live.map((m) => m.runId)).toEqual([newId, newId]);
    await client.runFastSync(s, a.id, 'and then?', { timeoutMs: 20_000 });
    const last = env.emu.requests.all().filter((r) => r.path === '/v1/messages' && JSON.stringify(r.body).includes('and then?')).at(-1)!;
    expect(JSON.stringify(last.body)).toContain('second answer');
    expect(JSON.stringify(last.body)).not.toContain('first answer');
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });
});

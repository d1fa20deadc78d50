import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { reply, type MessageRequest } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import type { AgentPG } from '../../src/client.js';
import { engineEnv, integrityProblems, type EngineEnv } from '../support/engine.js';

/** Text of the tool results in the last user turn, joined. */
function results(req: MessageRequest): string {
  const last = req.messages.at(-1)!;
  if (!Array.isArray(last.content)) return '';
  return last.content
    .filter((b) => b.type === 'tool_result')
    .map((b) => (typeof (b as { content?: unknown }).content === 'string' ? (b as { content: string }).content : JSON.stringify((b as { content?: unknown }).content)))
    .join(' | ');
}
const hasResults = (req: MessageRequest) => results(req) !== '';

/** An agent that calls `calls` once, then answers with a prefix and what it got back. */
function delegating(prefix: string, calls: { name: string; input: Record<string, unknown> }[]) {
  return (req: MessageRequest) => (hasResults(req) ? reply.text(`${prefix}[${results(req)}]`) : reply.toolUses(calls));
}

const lookup = defineTool({ name: 'lookup', description: 'Look up a fact', input: z.object({ q: z.string() }), execute: ({ q }) => `fact(${q})` });

describe('agents delegating to agents', () => {
  let env: EngineEnv;
  let c1: AgentPG<import('pg').PoolClient>;
  let c2: AgentPG<import('pg').PoolClient>;
  beforeAll(async () => {
    env = await engineEnv();
    // Two instances share the work.
    c1 = env.client({ name: 'one' });
    c2 = env.client({ name: 'two' });
    c1.registerTool(lookup);
    c2.registerTool(lookup);
    await c1.start();
    await c2.start();
  });
  afterAll(async () => env?.close());

  const make = (name: string, extra: Record<string, unknown> = {}) =>
    c1.createAgent({ name, description: `The ${name}`, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, ...extra });

  it('runs a 3-level hierarchy with parallel children and rolls usage up', async () => {
    const workerA = await make('worker_a', { tools: ['lookup'] });
    const workerB = await make('worker_b', { tools: ['lookup'] });
    const leadA = await make('lead_a', { agentIds: [workerA.id] });
    const leadB = await make('lead_b', { agentIds: [workerB.id] });
    const manager = await make('manager', { agentIds: [leadA.id, leadB.id] });
    env.emu.script({ system: 'You are worker_a.' }, delegating('A found ', [{ name: 'lookup', input: { q: 'alpha' } }])).repeatLast();
    env.emu.script({ system: 'You are worker_b.' }, delegating('B found ', [{ name: 'lookup', input: { q: 'beta' } }])).repeatLast();
    env.emu.script({ system: 'You are lead_a.' }, delegating('lead A: ', [{ name: 'worker_a', input: { task: 'find alpha' } }])).repeatLast();
    env.emu.script({ system: 'You are lead_b.' }, delegating('lead B: ', [{ name: 'worker_b', input: { task: 'find beta' } }])).repeatLast();
    env.emu
      .script({ system: 'You are manager.' }, delegating('summary: ', [
        { name: 'lead_a', input: { task: 'part A' } },
        { name: 'lead_b', input: { task: 'part B' } },
      ]))
      .repeatLast();
    const s = await c1.newSession();
    for (const run of [c1.runSync.bind(c1), c2.runFastSync.bind(c2)]) {
      const res = await run(s, manager.id, 'Plan the project', { timeoutMs: 30_000 });
      expect(res.text).toBe('summary: [lead A: [A found [fact(alpha)]] | lead B: [B found [fact(beta)]]]');
      const calls = await c1.getRunTools(res.runId);
      expect(calls.map((c) => [c.toolName, c.isAgentTool, c.state])).toEqual([
        ['lead_a', true, 'completed'],
        ['lead_b', true, 'completed'],
      ]);
      const child = await c1.getRun(calls[0]!.childRunId!);
      expect(child).toMatchObject({ depth: 1, parentRunId: res.runId, agentId: leadA.id, mode: (await c1.getRun(res.runId)).mode });
      const grandchild = await c1.getRun((await c1.getRunTools(child.id))[0]!.childRunId!);
      expect(grandchild).toMatchObject({ depth: 2, agentId: workerA.id, parentRunId: child.id });
      const own = (await c1.getRun(res.runId)).usage;
      expect(res.usage.inputTokens).toBeGreaterThan(own.inputTokens);
      expect(res.usage.outputTokens).toBeGreaterThan(own.outputTokens);
    }
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('resolves delegates from the parent agent only: never another tenant, never by global name', async () => {
    const r1 = await make('researcher', { metadata: { tenant_id: 't1' } });
    const r2 = await make('researcher', { metadata: { tenant_id: 't2' } });
    const boss = await make('tenant_boss', { agentIds: [r1.id], metadata: { tenant_id: 't1' } });
    const loner = await make('loner', { metadata: { tenant_id: 't2' } });
    env.emu.script({ system: 'You are researcher.' }, 'researched').repeatLast();
    env.emu.script({ system: 'You are tenant_boss.' }, delegating('boss: ', [{ name: 'researcher', input: { task: 'dig' } }])).repeatLast();
    env.emu.script({ system: 'You are loner.' }, delegating('loner: ', [{ name: 'researcher', input: { task: 'dig' } }])).repeatLast();
    const s = await c1.newSession();
    const res = await c1.runSync(s, boss.id, 'go', { timeoutMs: 30_000 });
    const [call] = await c1.getRunTools(res.runId);
    expect((await c1.getRun(call!.childRunId!)).agentId).toBe(r1.id);
    expect((await c1.getRun(call!.childRunId!)).agentId).not.toBe(r2.id);
    // An agent with no delegates cannot reach one by naming it.
    const lone = await c1.runSync(s, loner.id, 'go', { timeoutMs: 30_000 });
    expect(lone.toolCalls[0]).toMatchObject({ name: 'researcher', state: 'failed', isError: true });
    expect(lone.text).toMatch(/not available to this agent/);
  });

  it('refuses a delegation cycle with a clear error result', async () => {
    const a = await make('cycle_a');
    const b = await make('cycle_b', { agentIds: [a.id] });
    await c1.updateAgent(a.id, { agentIds: [b.id] });
    env.emu.script({ system: 'You are cycle_a.' }, delegating('a: ', [{ name: 'cycle_b', input: { task: 'help' } }])).repeatLast();
    env.emu.script({ system: 'You are cycle_b.' }, delegating('b: ', [{ name: 'cycle_a', input: { task: 'help back' } }])).repeatLast();
    const res = await c1.runSync(await c1.newSession(), a.id, 'start', { timeoutMs: 30_000 });
    expect(res.text).toMatch(/^a: \[b: \[Error: cycle_a was not called: it is already working on this chain/);
  });
});

describe('delegation depth limit', () => {
  let env: EngineEnv;
  let c: AgentPG<import('pg').PoolClient>;
  beforeAll(async () => {
    env = await engineEnv();
    c = env.client({ maxDelegationDepth: 1 });
    await c.start();
  });
  afterAll(async () => env?.close());

  it('stops delegation past maxDelegationDepth with a clear error result', async () => {
    const bottom = await c.createAgent({ name: 'bottom', model: 'claude-haiku-5-5', systemPrompt: 'You are bottom.' });
    const middle = await c.createAgent({ name: 'middle', model: 'claude-haiku-5-5', systemPrompt: 'You are middle.', agentIds: [bottom.id] });
    const top = await c.createAgent({ name: 'top', model: 'claude-haiku-5-5', systemPrompt: 'You are top.', agentIds: [middle.id] });
    env.emu.script({ system: 'You are bottom.' }, 'bottom answer').repeatLast();
    env.emu.script({ system: 'You are middle.' }, delegating('middle: ', [{ name: 'bottom', input: { task: 'x' } }])).repeatLast();
    env.emu.script({ system: 'You are top.' }, delegating('top: ', [{ name: 'middle', input: { task: 'y' } }])).repeatLast();
    const res = await c.runFastSync(await c.newSession(), top.id, 'go', { timeoutMs: 30_000 });
    expect(res.text).toBe('top: [middle: [Error: bottom was not called: delegation is limited to 1 levels. Do this part yourself.]]');
  });
});

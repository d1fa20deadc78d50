import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { faults, reply } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import { NotFoundError, RunCancelledError } from '../../src/errors.js';
import { AgentPG } from '../../src/client.js';
import { migrate } from '../../src/db/migrate.js';
import { engineEnv, FAST, integrityProblems, type EngineEnv } from '../support/engine.js';
import { waitFor } from '../support/db.js';

let env: EngineEnv;
let worker: AgentPG<import('pg').PoolClient>;
let aborted = 0;
let releaseGate: () => void = () => {};
let gateFinished = false;

beforeAll(async () => {
  env = await engineEnv();
  worker = env.client();
  worker.registerTool(
    defineTool({
      name: 'wait_for_signal',
      description: 'Runs until aborted',
      input: z.object({}),
      execute: (_i, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted++;
            reject(new Error('aborted'));
          });
        }),
    }),
  );
  worker.registerTool(
    defineTool({
      name: 'deaf_gate',
      description: 'Ignores its signal and waits for the test',
      input: z.object({}),
      execute: () =>
        new Promise<string>((resolve) => {
          releaseGate = () => {
            gateFinished = true;
            resolve('finished after the cancel');
          };
        }),
    }),
  );
  await worker.start();
});
afterAll(async () => env?.close());

const agent = (name: string, extra: Record<string, unknown> = {}) =>
  worker.createAgent({ name, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, ...extra });

describe('cancelRun', () => {
  it('cancels a pending run before any worker took it, and wakes waiters with a typed error', async () => {
    // Its own schema, where no worker runs: the run stays pending until cancelled.
    await migrate(env.m.driver, { schema: 'idle' });
    const idle = new AgentPG({ driver: env.m.driver, schema: 'idle' });
    const a = await idle.createAgent({ name: 'pending_bot', model: 'claude-haiku-5-5' });
    const runId = await idle.run(await idle.newSession(), a.id, 'hello');
    expect((await idle.getRun(runId)).state).toBe('pending');
    const waiting = idle.waitForRun(runId, { timeoutMs: 20_000 }).catch((e) => e);
    expect(await idle.cancelRun(runId)).toEqual([runId]);
    expect(await waiting).toBeInstanceOf(RunCancelledError);
    expect(await idle.getRun(runId)).toMatchObject({ state: 'cancelled', finalizedAt: expect.any(Date) });
    expect((await idle.getRunIterations(runId))[0]!.state).toBe('cancelled');
    expect(await idle.cancelRun(runId)).toEqual([]);
    await expect(idle.cancelRun('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('cancels a run whose batch is in flight and cancels the batch at the API', async () => {
    const a = await agent('batch_wait_bot');
    env.emu.fault(faults.slowBatch(Infinity), { match: { system: 'You are batch_wait_bot.' } });
    const runId = await worker.run(await worker.newSession(), a.id, 'slow please');
    await waitFor(async () => (await worker.getRun(runId)).state === 'batch_pending', { timeoutMs: 20_000, message: 'batch in flight' });
    await worker.cancelRun(runId);
    await expect(worker.waitForRun(runId, { timeoutMs: 5000 })).rejects.toBeInstanceOf(RunCancelledError);
    const [it1] = await worker.getRunIterations(runId);
    expect(it1!.state).toBe('cancelled');
    await env.emu.requests.waitFor({ method: 'POST', path: `/v1/messages/batches/${it1!.anthropicBatchId}/cancel` }, { timeoutMs: 5000 });
  });

  it('cancels a run whose tools are running: their signal fires and every tool_use is answered', async () => {
    const a = await agent('tool_wait_bot', { tools: ['wait_for_signal'] });
    env.emu.script({ system: 'You are tool_wait_bot.' }, reply.toolUses([{ name: 'wait_for_signal' }, { name: 'wait_for_signal' }]));
    const before = aborted;
    const runId = await worker.runFast(await worker.newSession(), a.id, 'wait');
    await waitFor(async () => (await worker.getRunTools(runId)).filter((t) => t.state === 'running').length === 2, { timeoutMs: 20_000, message: 'tools running' });
    await worker.cancelRun(runId, 'user pressed stop');
    await waitFor(() => aborted - before === 2, { message: 'both tools aborted' });
    const run = await worker.getRun(runId);
    expect(run).toMatchObject({ state: 'cancelled', errorMessage: 'user pressed stop' });
    expect((await worker.getRunTools(runId)).map((t) => [t.state, t.isError])).toEqual([
      ['cancelled', true],
      ['cancelled', true],
    ]);
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('cascades to a running child run', async () => {
    const child = await agent('slow_child');
    const parent = await agent('cancel_parent', { agentIds: [child.id] });
    env.emu.fault(faults.slowBatch(Infinity), { match: { system: 'You are slow_child.' } });
    env.emu.script({ system: 'You are cancel_parent.' }, reply.toolUse('slow_child', { task: 'take forever' }));
    const runId = await worker.run(await worker.newSession(), parent.id, 'delegate');
    const childRunId = await waitFor(async () => (await worker.getRunTools(runId))[0]?.childRunId, { timeoutMs: 20_000, message: 'child run' });
    await waitFor(async () => (await worker.getRun(childRunId)).state === 'batch_pending', { timeoutMs: 20_000, message: 'child in batch' });
    const cancelled = await worker.cancelRun(runId);
    expect(cancelled.sort()).toEqual([runId, childRunId].sort());
    expect((await worker.getRun(childRunId)).state).toBe('cancelled');
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('takes effect when its notification is lost: the late tool result is refused', async () => {
    const a = await agent('deaf_bot', { tools: ['deaf_gate'] });
    env.emu.script({ system: 'You are deaf_bot.' }, reply.toolUse('deaf_gate', {}), reply.text('should never be asked'));
    const runId = await worker.runFast(await worker.newSession(), a.id, 'go');
    await waitFor(async () => (await worker.getRunTools(runId))[0]?.state === 'running', { timeoutMs: 20_000, message: 'gate running' });
    // The worker goes deaf: it cannot hear the cancel's notification, only the rows can tell it.
    await (worker as unknown as { notifier: { stop(): Promise<void> } }).notifier.stop();
    const canceller = new AgentPG({ driver: env.m.driver, ...FAST });
    await canceller.cancelRun(runId);
    releaseGate();
    await waitFor(() => gateFinished, { message: 'gate finished' });
    await waitFor(async () => (await env.m.pool.query(`SELECT 1 FROM agentpg.tool_executions WHERE run_id = $1 AND lease_owner IS NULL`, [runId])).rowCount === 1, {
      message: 'late result handled',
    });
    expect((await worker.getRunTools(runId))[0]).toMatchObject({ state: 'cancelled', isError: true });
    expect(await worker.getRunIterations(runId)).toHaveLength(1);
    expect((await worker.getRun(runId)).state).toBe('cancelled');
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });
});

describe('a client that only waits', () => {
  it('closes the LISTEN connection waitForRun opened when stopped without having started', async () => {
    const waiter = new AgentPG({ driver: env.m.driver, ...FAST });
    const a = await worker.createAgent({ name: 'listen_bot', model: 'claude-haiku-5-5' });
    await waiter.waitForRun(await worker.run(await worker.newSession(), a.id, 'hi'), { timeoutMs: 20_000 });
    const listening = async () =>
      (await env.m.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`)).rows[0].n as number;
    const before = await listening();
    await waiter.stop();
    await waitFor(async () => (await listening()) === before - 1, { message: 'the waiter listener closed' });
  });
});

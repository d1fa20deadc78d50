import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { faults, reply } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import { ConfigError, RunFailedError, ValidationError } from '../../src/errors.js';
import { AgentPG } from '../../src/client.js';
import type { AgentPGConfig } from '../../src/config.js';
import { engineEnv, integrityProblems, type EngineEnv } from '../support/engine.js';
import { waitFor } from '../support/db.js';

/**
 * Surviving failure inside one process: leases kept while work goes on, expired claims rescued by the
 * leader, graceful hand-back on stop, dead instances cleaned up, zombies re-registered, unclaimable tools.
 * A dead worker is played by a "ghost": rows claimed under an instance id no process owns, lease expired.
 */

type Client = AgentPG<import('pg').PoolClient>;
let env: EngineEnv;
let main: Client;

const LEASE_MS = 1200;
const SURVIVAL: Partial<AgentPGConfig<import('pg').PoolClient>> = {
  leaseMs: LEASE_MS,
  heartbeatIntervalMs: 100,
  instanceTtlMs: 1500,
  leaderTtlMs: 400,
  unclaimedToolTimeoutMs: 3000,
  shutdownTimeoutMs: 100,
};

const effects: { tool: string; instance: string; executionId: string; attempt: number }[] = [];
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

/** A tool recording each execution; it takes `ms` (cut short by its abort signal). */
function tool(name: string, ms = 0, instance = '?') {
  return defineTool({
    name,
    description: `The ${name} tool`,
    input: z.object({}),
    execute: async (_input, ctx) => {
      effects.push({ tool: name, instance, executionId: ctx.executionId, attempt: ctx.attempt });
      if (ms > 0) await sleep(ms, ctx.signal);
      return `${name} done`;
    },
  });
}

beforeAll(async () => {
  env = await engineEnv();
  main = env.client(SURVIVAL);
  await main.start();
});
afterAll(async () => {
  await env?.close();
});

async function agent(name: string, tools: string[] = []) {
  return main.createAgent({ name, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, tools });
}

/** A tool definition as if a worker had registered it once (no live instance offers it now). */
async function knownTool(name: string) {
  await env.m.pool.query(
    `INSERT INTO agentpg.tools (name, description, input_schema) VALUES ($1, $2, '{"type":"object","properties":{}}') ON CONFLICT DO NOTHING`,
    [name, `The ${name} tool`],
  );
}

async function execution(runId: string) {
  return waitFor(async () => {
    const { rows } = await env.m.pool.query(`SELECT * FROM agentpg.tool_executions WHERE run_id = $1`, [runId]);
    return rows[0];
  }, { message: 'a tool execution' });
}

async function ghostInstance(id: string) {
  await env.m.pool.query(
    `INSERT INTO agentpg.instances (id, name, hostname, pid, version, max_concurrent_runs, max_concurrent_tools, last_heartbeat_at)
     VALUES ($1, 'ghost', 'nowhere', 1, '0', 1, 1, now() - interval '1 hour')`,
    [id],
  );
}

describe('leases are kept while work goes on', () => {
  it('a tool running for several lease lengths keeps its claim: one execution, one attempt', async () => {
    const other = env.client(SURVIVAL);
    other.registerTool(tool('long_tool', 3 * LEASE_MS));
    await other.start();
    const helper = env.client(SURVIVAL);
    helper.registerTool(tool('long_tool', 3 * LEASE_MS));
    await helper.start();
    try {
      const a = await agent('long_tool_bot', ['long_tool']);
      env.emu.script({ system: 'You are long_tool_bot.' }, reply.toolUse('long_tool', {}), 'finished');
      const res = await main.runSync(await main.newSession(), a.id, 'go', { timeoutMs: 20_000 });
      expect(res.text).toBe('finished');
      const e = await execution(res.runId);
      expect(e).toMatchObject({ state: 'completed', attempt: 1 });
      expect(effects.filter((x) => x.executionId === e.id)).toHaveLength(1);
    } finally {
      await Promise.all([other.stop(), helper.stop()]);
    }
  });

  it('a batch poll that takes several lease lengths keeps its lease: nobody else polls that batch meanwhile', async () => {
    const second = env.client(SURVIVAL);
    await second.start();
    try {
      const a = await agent('slow_poll_bot');
      env.emu.script({ system: 'You are slow_poll_bot.' }, 'polled');
      const slow = env.emu.fault(faults.delay(3 * LEASE_MS), { method: 'GET', path: /^\/v1\/messages\/batches\/[^/]+$/ });
      const runId = await main.run(await main.newSession(), a.id, 'go');
      await waitFor(() => slow.hits === 1, { timeoutMs: 10_000, message: 'the delayed poll' });
      const { rows: before } = await env.m.pool.query(
        `SELECT b.id, b.poll_count, b.lease_owner FROM agentpg.batches b JOIN agentpg.iterations i ON i.batch_id = b.id WHERE i.run_id = $1`,
        [runId],
      );
      expect(before[0].lease_owner).not.toBeNull();
      // Observe a window longer than two leases: the holder renews, nobody takes the batch over.
      await sleep(2 * LEASE_MS);
      const { rows: during } = await env.m.pool.query(`SELECT poll_count, lease_owner, lease_expires_at > now() AS live FROM agentpg.batches WHERE id = $1`, [
        before[0].id,
      ]);
      expect(during[0]).toMatchObject({ poll_count: before[0].poll_count, lease_owner: before[0].lease_owner, live: true });
      expect((await main.waitForRun(runId, { timeoutMs: 20_000 })).text).toBe('polled');
    } finally {
      await second.stop();
    }
  });
});

describe('pollers and leases', () => {
  it('a poller waits while another instance holds a batch lease, instead of asking again and again', async () => {
    const d = env.m.driver;
    let polls = 0;
    const counting = { ...d, query: (sql: string, p?: never) => ((polls += sql.includes('next_poll_at') ? 1 : 0), d.query(sql, p)) } as typeof d;
    const c = new AgentPG({ driver: counting, baseURL: env.emu.url, apiKey: 'sk-test', ...SURVIVAL, batch: { pollIntervalMs: 5000 } });
    await c.start();
    try {
      const { rows } = await env.m.pool.query(
        `INSERT INTO agentpg.batches (anthropic_batch_id, state, request_count, lease_owner, lease_expires_at, next_poll_at)
         VALUES ('msgbatch_held_elsewhere', 'in_progress', 1, 'ghost-poller', now() + interval '1 hour', now() - interval '1 second') RETURNING id`,
      );
      await sleep(300);
      polls = 0;
      await sleep(1000);
      // Before the fix, the poller saw the batch "due" and spun: dozens of statements a second.
      expect(polls).toBeLessThan(5);
      await env.m.pool.query(`DELETE FROM agentpg.batches WHERE id = $1`, [rows[0].id]);
    } finally {
      await c.stop();
    }
  });
});

describe('the leader rescues expired claims', () => {
  it('a dead worker mid-tool: its instance is removed, the call runs again with the attempt counted, no run fails', async () => {
    await knownTool('victim');
    const a = await agent('victim_bot', ['victim']);
    env.emu.script({ system: 'You are victim_bot.' }, reply.toolUse('victim', {}), 'survived');
    const runId = await main.run(await main.newSession(), a.id, 'go');
    const e = await execution(runId);
    // The ghost claimed the call (attempt 1) and died: no renewals, heartbeat long gone.
    await ghostInstance('ghost-1');
    await env.m.pool.query(
      `UPDATE agentpg.tool_executions SET state = 'running', lease_owner = 'ghost-1', lease_expires_at = now() - interval '1 second', attempt = 1,
         started_at = now() WHERE id = $1 AND state = 'pending'`,
      [e.id],
    );
    const worker = env.client(SURVIVAL);
    worker.registerTool(tool('victim'));
    await worker.start();
    try {
      const res = await main.waitForRun(runId, { timeoutMs: 20_000 });
      expect(res.text).toBe('survived');
      const after = await execution(runId);
      expect(after).toMatchObject({ state: 'completed', attempt: 2, is_error: false });
      expect(after.last_error).toMatch(/stopped renewing its lease/);
      await waitFor(async () => (await env.m.pool.query(`SELECT 1 FROM agentpg.instances WHERE id = 'ghost-1'`)).rowCount === 0, {
        message: 'the dead instance to be removed',
      });
    } finally {
      await worker.stop();
    }
  });

  it('a call that used its last attempt becomes an error result, and the run goes on', async () => {
    await knownTool('doomed');
    const a = await agent('doomed_bot', ['doomed']);
    env.emu.script({ system: 'You are doomed_bot.' }, reply.toolUse('doomed', {}));
    const runId = await main.run(await main.newSession(), a.id, 'go');
    const e = await execution(runId);
    await env.m.pool.query(
      `UPDATE agentpg.tool_executions SET state = 'running', lease_owner = 'ghost-2', lease_expires_at = now() - interval '1 second',
         attempt = max_attempts, started_at = now() WHERE id = $1 AND state = 'pending'`,
      [e.id],
    );
    const res = await main.waitForRun(runId, { timeoutMs: 20_000 });
    // The default responder quotes the failure it was given.
    expect(res.text).toMatch(/error/i);
    expect(res.toolCalls[0]).toMatchObject({ name: 'doomed', isError: true, state: 'failed' });
    expect(String(res.toolCalls[0]!.output)).toMatch(/did not finish: the worker running it stopped/);
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('a streaming call whose worker died goes back to pending and is answered exactly once', async () => {
    const a = await agent('stream_bot');
    env.emu.script({ system: 'You are stream_bot.' }, 'streamed after rescue').repeatLast();
    const session = await main.newSession();
    const tx = await env.m.pool.connect();
    let runId: string;
    try {
      await tx.query('BEGIN');
      runId = await main.runFastTx(tx, session, a.id, 'go');
      // Claimed by a ghost in the same transaction, so no live streamer sees it pending first.
      await tx.query(
        `UPDATE agentpg.iterations SET state = 'streaming', lease_owner = 'ghost-3', lease_expires_at = now() - interval '1 second', started_at = now()
         WHERE run_id = $1`,
        [runId],
      );
      await tx.query(`UPDATE agentpg.runs SET state = 'streaming', started_at = now() WHERE id = $1`, [runId]);
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    const res = await main.waitForRun(runId, { timeoutMs: 20_000 });
    expect(res.text).toBe('streamed after rescue');
    const [it1] = await main.getRunIterations(runId);
    expect(it1).toMatchObject({ state: 'completed', attempt: 1 });
    expect(res.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
  });

  it('a model call lost by its workers more than batch.maxRequeues times fails its run instead of looping', async () => {
    const a = await agent('poison_bot');
    const session = await main.newSession();
    const tx = await env.m.pool.connect();
    let runId: string;
    try {
      await tx.query('BEGIN');
      runId = await main.runFastTx(tx, session, a.id, 'go');
      await tx.query(
        `UPDATE agentpg.iterations SET state = 'streaming', lease_owner = 'ghost-5', lease_expires_at = now() - interval '1 second',
           started_at = now(), attempt = $2 WHERE run_id = $1`,
        [runId, main.config.batch.maxRequeues],
      );
      await tx.query(`UPDATE agentpg.runs SET state = 'streaming', started_at = now() WHERE id = $1`, [runId]);
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    const err = await main.waitForRun(runId, { timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    const run = await main.getRun(runId);
    expect(run).toMatchObject({ state: 'failed', errorType: 'worker_lost' });
    expect(run.errorMessage).toMatch(/gave up after 4 attempts/);
    expect((await main.getRunIterations(runId))[0]).toMatchObject({ state: 'failed', errorType: 'worker_lost', attempt: 4 });
  });

  it('a batch submission whose submitter died is abandoned and submitted again', async () => {
    const a = await agent('submit_bot');
    env.emu.script({ system: 'You are submit_bot.' }, 'submitted after rescue');
    const session = await main.newSession();
    const tx = await env.m.pool.connect();
    let runId: string;
    let ghostBatch: string;
    try {
      await tx.query('BEGIN');
      runId = await main.runTx(tx, session, a.id, 'go');
      const { rows } = await tx.query(
        `INSERT INTO agentpg.batches (request_count, lease_owner, lease_expires_at) VALUES (1, 'ghost-4', now() - interval '1 second') RETURNING id`,
      );
      ghostBatch = rows[0].id;
      await tx.query(`UPDATE agentpg.iterations SET state = 'submitting', batch_id = $2, started_at = now() WHERE run_id = $1`, [runId, ghostBatch]);
      await tx.query(`UPDATE agentpg.runs SET state = 'batch_submitting', started_at = now() WHERE id = $1`, [runId]);
      await tx.query('COMMIT');
    } finally {
      tx.release();
    }
    const res = await main.waitForRun(runId, { timeoutMs: 20_000 });
    expect(res.text).toBe('submitted after rescue');
    const { rows } = await env.m.pool.query(`SELECT state, error_message FROM agentpg.batches WHERE id = $1`, [ghostBatch!]);
    expect(rows[0]).toMatchObject({ state: 'abandoned', error_message: expect.stringMatching(/lost its lease/) });
  });
});

describe('graceful stop hands work back', () => {
  it('a running tool call goes back to the queue without using an attempt, at once, and another instance finishes the run', async () => {
    const leaving = env.client(SURVIVAL);
    leaving.registerTool(tool('handed', 30_000, 'leaving'));
    await leaving.start();
    const a = await agent('handback_bot', ['handed']);
    env.emu.script({ system: 'You are handback_bot.' }, reply.toolUse('handed', {}), 'handed over');
    const runId = await main.run(await main.newSession(), a.id, 'go');
    await waitFor(async () => (await execution(runId)).state === 'running', { timeoutMs: 15_000, message: 'the call to run' });
    expect((await execution(runId)).lease_owner).toBe(leaving.instanceId);

    // The next version is up before the old one stops (so the call is never without a live instance).
    const taker = env.client(SURVIVAL);
    taker.registerTool(tool('handed', 0, 'taker'));
    await taker.start();
    const stopping = Date.now();
    await leaving.stop({ timeoutMs: 50 });
    const stopMs = Date.now() - stopping;
    expect(stopMs).toBeLessThan(2000);
    try {
      const res = await main.waitForRun(runId, { timeoutMs: 20_000 });
      expect(res.text).toBe('handed over');
      // Handed back at attempt 1 without using it, then run by the taker as attempt 1.
      expect(await execution(runId)).toMatchObject({ state: 'completed', attempt: 1 });
      expect(effects.filter((e) => e.tool === 'handed').map((e) => [e.instance, e.attempt])).toEqual([
        ['leaving', 1],
        ['taker', 1],
      ]);
      expect((await main.getRun(runId)).state).toBe('completed');
    } finally {
      await taker.stop();
    }
  });

  it('a batch being polled is released on stop, so another instance polls it at once', async () => {
    // A separate database and emulator: only the clients of this test poll there.
    const own = await engineEnv();
    try {
      const leaving = own.client(SURVIVAL);
      await leaving.start();
      const a = await leaving.createAgent({ name: 'release_bot', model: 'claude-haiku-5-5', systemPrompt: 'You are release_bot.' });
      own.emu.script({ system: 'You are release_bot.' }, 'released');
      const hang = own.emu.fault(faults.delay(30_000), { method: 'GET', path: /^\/v1\/messages\/batches\/[^/]+$/ });
      const runId = await leaving.run(await leaving.newSession(), a.id, 'go');
      await waitFor(() => hang.hits === 1, { timeoutMs: 10_000, message: 'the hanging poll' });
      const { rows } = await own.m.pool.query(
        `SELECT b.id, b.lease_owner FROM agentpg.batches b JOIN agentpg.iterations i ON i.batch_id = b.id WHERE i.run_id = $1`,
        [runId],
      );
      expect(rows[0].lease_owner).toBe(leaving.instanceId);
      const taker = own.client(SURVIVAL);
      await taker.start();
      const started = Date.now();
      await leaving.stop({ timeoutMs: 50 });
      expect(Date.now() - started).toBeLessThan(2000);
      const { rows: released } = await own.m.pool.query(`SELECT lease_owner FROM agentpg.batches WHERE id = $1`, [rows[0].id]);
      expect([null, taker.instanceId]).toContain(released[0].lease_owner);
      const res = await taker.waitForRun(runId, { timeoutMs: 20_000 });
      expect(res.text).toBe('released');
      // Long before the hanging poll (30 s) would have returned or its lease expired and been taken over.
      expect(Date.now() - started).toBeLessThan(LEASE_MS * 4);
    } finally {
      await own.close();
    }
  });
});

describe('instances', () => {
  it('a client whose row disappeared registers again with its tools (deleted, or lost in a database crash)', async () => {
    const c = env.client(SURVIVAL);
    c.registerTool(tool('zombie_tool'));
    await c.start();
    try {
      const registered = async () =>
        (
          await env.m.pool.query(
            `SELECT 1 FROM agentpg.instances i JOIN agentpg.instance_tools t ON t.instance_id = i.id WHERE i.id = $1 AND t.tool_name = 'zombie_tool'`,
            [c.instanceId],
          )
        ).rowCount === 1;
      expect(await registered()).toBe(true);
      await env.m.pool.query(`DELETE FROM agentpg.instances WHERE id = $1`, [c.instanceId]);
      await waitFor(registered, { timeoutMs: 5000, message: 're-registration after delete' });
      // What a crash does to the unlogged tables: everybody's rows are gone at once.
      await env.m.pool.query(`TRUNCATE agentpg.instances CASCADE`);
      await waitFor(registered, { timeoutMs: 5000, message: 're-registration after truncate' });
      await waitFor(async () => (await env.m.pool.query(`SELECT 1 FROM agentpg.instances WHERE id = $1`, [main.instanceId])).rowCount === 1, {
        message: 'the main client back too',
      });
    } finally {
      await c.stop();
    }
  });
});

describe('unclaimable work', () => {
  it('a call for a tool no live instance registered is visible as blocked, then fails the run naming the tool', async () => {
    await knownTool('nobody_tool');
    const a = await agent('blocked_bot', ['nobody_tool']);
    env.emu.script({ system: 'You are blocked_bot.' }, reply.toolUse('nobody_tool', {}));
    const runId = await main.run(await main.newSession(), a.id, 'go');
    const blocked = await waitFor(async () => (await main.getRun(runId)).blocked, { timeoutMs: 10_000, message: 'the run to show as blocked' });
    expect(blocked).toMatchObject({ reason: 'tool_unavailable', tools: ['nobody_tool'], since: expect.any(Date) });
    expect(blocked.message).toMatch(/nobody_tool/);
    expect((await main.getRun(runId)).state).toBe('pending_tools');
    const listed = await main.listRuns({ state: 'pending_tools' });
    expect(listed.items.find((r) => r.id === runId)?.blocked?.tools).toEqual(['nobody_tool']);

    const err = await main.waitForRun(runId, { timeoutMs: 20_000 }).catch((e) => e);
    expect(err).toBeInstanceOf(RunFailedError);
    const run = await main.getRun(runId);
    expect(run).toMatchObject({ state: 'failed', errorType: 'tool_unavailable', blocked: null });
    expect(run.errorMessage).toMatch(/"nobody_tool".*unclaimedToolTimeoutMs/);
    // The conversation stays valid: the tool_use has its (error) tool_result.
    const msgs = await main.getSessionMessages(run.sessionId);
    const last = msgs.at(-1)!;
    expect(last.role).toBe('user');
    expect(last.content[0]).toMatchObject({ type: 'tool_result', is_error: true, content: expect.stringMatching(/nobody_tool.*unavailable/) });
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });

  it('stops being blocked when an instance registers the tool, and completes', async () => {
    await knownTool('late_tool');
    const a = await agent('late_bot', ['late_tool']);
    env.emu.script({ system: 'You are late_bot.' }, reply.toolUse('late_tool', {}), 'late but fine');
    const runId = await main.run(await main.newSession(), a.id, 'go');
    await waitFor(async () => (await main.getRun(runId)).blocked, { timeoutMs: 10_000, message: 'blocked' });
    const late = env.client(SURVIVAL);
    late.registerTool(tool('late_tool'));
    await late.start();
    try {
      expect((await main.waitForRun(runId, { timeoutMs: 20_000 })).text).toBe('late but fine');
      expect((await main.getRun(runId)).blocked).toBeNull();
    } finally {
      await late.stop();
    }
  });
});

describe('configuration', () => {
  it('validates the survival options', async () => {
    expect(() => env.client({ heartbeatIntervalMs: 1000, instanceTtlMs: 1500 })).toThrow(ConfigError);
    expect(() => env.client({ shutdownTimeoutMs: -1 })).toThrow(ConfigError);
    const c = env.client();
    expect(c.config).toMatchObject({ shutdownTimeoutMs: 25_000, leaderTtlMs: 30_000, instanceTtlMs: 120_000, unclaimedToolTimeoutMs: 300_000 });
    await c.start();
    await expect(c.stop({ timeoutMs: -5 })).rejects.toBeInstanceOf(ValidationError);
    await c.stop();
  });
});

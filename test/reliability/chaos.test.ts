import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faults } from '../../src/emulator/index.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/devdb/embedded.js';
import { waitFor } from '../support/db.js';
import { Cluster, prng, sleep, type ScenarioReport } from './harness.js';

/**
 * The kill-test suite: worker processes against one database and the emulator, while a driver kills them
 * (SIGKILL at chosen and at random moments), pauses one past its lease (SIGSTOP), kills their connections,
 * restarts (crashes) PostgreSQL, injects API faults, and rolls a deploy (SIGTERM). After each scenario every
 * run must have finished with its expected answer, with no duplicate message and every tool_use answered
 * once; duplicate tool executions (at-least-once tools) are reported.
 *
 * It runs on its own PostgreSQL server (it restarts it), with synchronous_commit on so that a crash loses no
 * committed transaction. Seeded: the same SEED gives the same random kill times and targets.
 */

const SEED = Number(process.env.AGENTPG_CHAOS_SEED ?? 20261124);
const FINISH_MS = Number(process.env.AGENTPG_CHAOS_FINISH_MS ?? 120_000);

let server: EmbeddedPostgres;
const reports: ScenarioReport[] = [];
const clusters: Cluster[] = [];

beforeAll(async () => {
  server = await startEmbeddedPostgres({ synchronousCommit: true });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clusters.map((c) => c.close()));
  await server?.stop();
  if (reports.length > 0) {
    console.log(
      ['[reliability] summary (seed ' + SEED + ')', ...reports.map((r) => `  ${r.scenario.padEnd(12)} runs=${r.runs} kills=${r.kills} recovery=${(r.recoveryMs / 1000).toFixed(1)}s lost=${r.lostRuns} dupMessages=${r.duplicateMessages} dupToolExecutions=${r.duplicateToolExecutions}`)].join('\n'),
    );
  }
}, 120_000);

async function open(name: string, env: Record<string, string> = {}): Promise<Cluster> {
  const c = await Cluster.open(server, name, env);
  clusters.push(c);
  await Promise.all([c.spawnWorker(), c.spawnWorker(), c.spawnWorker()]);
  return c;
}

/** The invariants every scenario must keep. */
function expectClean(r: ScenarioReport): void {
  reports.push(r);
  expect(r.crashedWorkers, 'workers that died on their own').toEqual([]);
  expect(r.lost, 'runs that did not complete with their expected answer').toEqual([]);
  expect(r.duplicateMessages, 'duplicate messages').toBe(0);
  expect(r.batchResultsAppliedTwice, 'batch results applied twice').toBe(0);
  expect(r.integrity, 'conversation integrity').toEqual([]);
  expect(r.messageCountMismatches, 'runs with an unexpected number of messages').toBe(0);
  expect(r.missingSideEffects, 'tool_use blocks whose tool never ran').toBe(0);
}

const OWNERS = {
  submitting: `SELECT lease_owner AS owner FROM agentpg.batches WHERE state = 'submitting' AND lease_owner IS NOT NULL`,
  polling: `SELECT lease_owner AS owner FROM agentpg.batches WHERE state = 'in_progress' AND lease_owner IS NOT NULL`,
  streaming: `SELECT lease_owner AS owner FROM agentpg.iterations WHERE state = 'streaming' AND lease_owner IS NOT NULL`,
  tool: `SELECT lease_owner AS owner FROM agentpg.tool_executions WHERE state = 'running' AND lease_owner NOT LIKE 'child:%'`,
};

describe('reliability', () => {
  it('SIGKILL mid-submit, mid-stream, mid-poll, mid-tool and at random moments', async () => {
    const c = await open('sigkill');
    // Widen the windows the kills aim at: the first submissions, polls and streams take 1.5 s.
    c.emu.fault(faults.delay(1500), { method: 'POST', path: '/v1/messages/batches', times: 2 });
    c.emu.fault(faults.delay(1500), { method: 'GET', path: /^\/v1\/messages\/batches\/[^/]+$/, times: 3 });
    c.emu.fault(faults.delay(1500), { method: 'POST', path: '/v1/messages', times: 4 });
    await c.createRuns({ batch: 30, fast: 12, delegation: 12 });
    await c.killWhen('mid-submit', OWNERS.submitting);
    await c.killWhen('mid-stream', OWNERS.streaming);
    await c.killWhen('mid-poll', OWNERS.polling);
    await c.killWhen('mid-tool', OWNERS.tool);
    await c.killWhen('mid-tool', OWNERS.tool);
    const rnd = prng(SEED);
    for (let i = 0; i < 2; i++) {
      await sleep(200 + rnd() * 800);
      const live = c.alive();
      if (live.length === 0) continue;
      await c.kill(live[Math.floor(rnd() * live.length)]!, 'at a random moment');
      void c.spawnWorker();
    }
    expectClean(await c.verify(await c.waitAllTerminal(FINISH_MS)));
    expect(c.kills).toBeGreaterThanOrEqual(5);
  }, 180_000);

  it('SIGSTOP the leader past its lease: another leads, its claims are rescued, and when it wakes up it registers again', async () => {
    const c = await open('sigstop', { AGENTPG_TOOL_MIN_MS: '300', AGENTPG_TOOL_MAX_MS: '900' });
    await c.createRuns({ batch: 24, delegation: 6 });
    // The leader, caught while it runs a tool call (or any worker running one).
    const pick = async (leaderOnly: boolean) => {
      const { rows } = await c.pool.query<{ owner: string; leader: boolean }>(
        `SELECT te.lease_owner AS owner, te.lease_owner = l.leader_id AS leader FROM agentpg.tool_executions te
         LEFT JOIN agentpg.leader l ON true WHERE te.state = 'running' AND te.lease_owner NOT LIKE 'child:%'`,
      );
      return c.alive().find((w) => rows.some((r) => r.owner === w.instanceId && (r.leader || !leaderOnly))) ?? null;
    };
    const target =
      (await waitFor(() => pick(true), { timeoutMs: 8000, message: 'the leader running a tool call' }).catch(() => null)) ??
      (await waitFor(() => pick(false), { timeoutMs: 8000, message: 'a worker running a tool call' }));
    const { rows: before } = await c.pool.query<{ leader_id: string; token: string }>(`SELECT leader_id, fencing_token::text AS token FROM agentpg.leader`);
    const wasLeader = before[0]?.leader_id === target.instanceId;
    c.pause(target);
    const pausedAt = Date.now();
    c.notes.push(`paused ${target.name}${wasLeader ? ' (the leader)' : ''}`);

    // While it sleeps: a live instance leads (a new term if it was the leader), it is removed as dead, and
    // nothing stays claimed by it.
    const seat = await waitFor(
      async () => {
        const { rows } = await c.pool.query<{ leader_id: string; token: string }>(
          `SELECT leader_id, fencing_token::text AS token FROM agentpg.leader WHERE expires_at > now() AND leader_id <> $1`,
          [target.instanceId],
        );
        return rows[0];
      },
      { timeoutMs: 15_000, message: 'a live leader' },
    );
    if (wasLeader) expect(BigInt(seat.token)).toBeGreaterThan(BigInt(before[0]!.token));
    await waitFor(async () => (await c.pool.query(`SELECT 1 FROM agentpg.instances WHERE id = $1`, [target.instanceId])).rowCount === 0, {
      timeoutMs: 15_000,
      message: 'the paused instance to be removed as dead',
    });
    await waitFor(
      async () =>
        (await c.pool.query(`SELECT 1 FROM agentpg.tool_executions WHERE state = 'running' AND lease_owner = $1`, [target.instanceId])).rowCount === 0,
      { timeoutMs: 15_000, message: 'its tool calls to be rescued' },
    );
    c.notes.push(`paused for ${Date.now() - pausedAt} ms; leader ${wasLeader ? `re-elected with token ${before[0]!.token} -> ${seat.token}` : 'unchanged'}`);

    c.resume(target);
    const resumedAt = Date.now();
    await waitFor(
      async () =>
        (
          await c.pool.query(
            `SELECT 1 FROM agentpg.instances i JOIN agentpg.instance_tools t ON t.instance_id = i.id WHERE i.id = $1 AND t.tool_name = 'lookup'`,
            [target.instanceId],
          )
        ).rowCount === 1,
      { timeoutMs: 15_000, message: 'the resumed instance to register again' },
    );
    c.notes.push(`re-registered ${Date.now() - resumedAt} ms after SIGCONT`);
    // More work after the wake-up, for everybody including the sleeper.
    await c.createRuns({ batch: 6 });
    expectClean(await c.verify(await c.waitAllTerminal(FINISH_MS)));
    expect(target.exited).toBe(false);
  }, 180_000);

  it('pg_terminate_backend on every worker connection, again and again', async () => {
    const c = await open('connections');
    await c.createRuns({ batch: 24, fast: 8, delegation: 8 });
    const rnd = prng(SEED + 1);
    let rounds = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(200 + rnd() * 300);
      c.kills += await c.terminateConnections();
      rounds++;
    }
    c.notes.push(`${rounds} rounds of pg_terminate_backend, ${c.kills} connections killed`);
    expectClean(await c.verify(await c.waitAllTerminal(FINISH_MS)));
    expect(c.workers.filter((w) => w.exited)).toEqual([]);
  }, 180_000);

  it('PostgreSQL crashes and restarts under load (unlogged instance rows lost): workers re-register and finish', async () => {
    const c = await open('pg-restart');
    await c.createRuns({ batch: 24, fast: 8, delegation: 8 });
    for (const downMs of [700, 300]) {
      await waitFor(async () => (await c.pool.query(OWNERS.tool)).rowCount! > 0 || (await c.pool.query(OWNERS.streaming)).rowCount! > 0, {
        timeoutMs: 10_000,
        message: 'work in flight',
      }).catch(() => c.notes.push('restarted without tool calls in flight'));
      await server.restart({ mode: 'immediate', downMs });
      c.kills++;
      c.disrupted();
      await sleep(1000);
    }
    c.notes.push('2 immediate restarts (crash recovery empties the unlogged tables)');
    const done = await c.waitAllTerminal(FINISH_MS);
    await waitFor(
      async () => {
        const { rows } = await c.pool.query<{ id: string }>(
          `SELECT i.id FROM agentpg.instances i WHERE EXISTS (SELECT 1 FROM agentpg.instance_tools t WHERE t.instance_id = i.id)`,
        );
        return c.alive().every((w) => rows.some((r) => r.id === w.instanceId));
      },
      { timeoutMs: 15_000, message: 'every worker registered again after the crash' },
    );
    expectClean(await c.verify(done));
    expect(c.workers.filter((w) => w.exited)).toEqual([]);
  }, 180_000);

  it('API faults (429, 529, 500, dropped connections, expired and errored batch results, broken streams) and a SIGKILL', async () => {
    const c = await open('api-faults');
    const batchPath = /^\/v1\/messages\/batches\/[^/]+$/;
    const handles = [
      c.emu.fault(faults.rateLimited({ retryAfterMs: 5 }), { method: 'POST', path: '/v1/messages/batches', times: 3 }),
      c.emu.fault(faults.drop(), { method: 'POST', path: '/v1/messages/batches', times: 2 }),
      c.emu.fault(faults.overloaded({ retryAfterMs: 5 }), { method: 'GET', path: batchPath, times: 3 }),
      c.emu.fault(faults.serverError({ retryAfterMs: 5 }), { method: 'GET', path: batchPath, times: 2 }),
      c.emu.fault(faults.drop(), { method: 'GET', path: /\/results$/, times: 2 }),
      c.emu.fault(faults.batchExpired(), { times: 4 }),
      c.emu.fault(faults.batchErrored({ type: 'overloaded_error' }), { times: 3 }),
      c.emu.fault(faults.overloaded({ retryAfterMs: 5 }), { method: 'POST', path: '/v1/messages', times: 3 }),
      c.emu.fault(faults.streamDrop({ afterEvents: 4 }), { times: 2 }),
      c.emu.fault(faults.streamError({ afterEvents: 3 }), { times: 2 }),
    ];
    await c.createRuns({ batch: 24, fast: 10, delegation: 8 });
    const rnd = prng(SEED + 2);
    await sleep(500 + rnd() * 1000);
    const live = c.alive();
    await c.kill(live[Math.floor(rnd() * live.length)]!, 'at a random moment');
    void c.spawnWorker();
    const done = await c.waitAllTerminal(FINISH_MS);
    c.notes.push(`faults fired: ${handles.map((h) => h.hits).reduce((a, b) => a + b, 0)} of ${handles.map((h) => h.hits + h.remaining).reduce((a, b) => a + b, 0)}`);
    expectClean(await c.verify(done));
  }, 180_000);

  it('a rolling deploy (SIGTERM each worker mid-work): claims are handed back, no run fails, no attempt is used', async () => {
    // Long leases: an attempt counted here could only come from a hand-back, not from a lease expiring under load.
    // Four tool calls at a time per worker, so that every worker has some in flight when it is stopped.
    const c = await open('rolling', {
      AGENTPG_TOOL_MIN_MS: '600',
      AGENTPG_TOOL_MAX_MS: '2000',
      AGENTPG_SHUTDOWN_MS: '200',
      AGENTPG_LEASE_MS: '5000',
      AGENTPG_MAX_TOOLS: '4',
    });
    const old = [...c.workers];
    // Like a deployment: the new version comes up, then each old worker stops while it runs tool calls.
    await Promise.all([c.spawnWorker(), c.spawnWorker(), c.spawnWorker()]);
    await c.createRuns({ batch: 20, fast: 6, delegation: 6 });
    const stopTimes: number[] = [];
    for (const w of old) {
      await waitFor(async () => (await c.pool.query(`${OWNERS.tool} AND lease_owner = $1`, [w.instanceId])).rowCount! > 0, {
        timeoutMs: 8000,
        message: `${w.name} to run a tool call`,
      }).catch(() => c.notes.push(`${w.name} stopped with no tool call in flight`));
      stopTimes.push(await c.terminate(w));
      c.kills++;
    }
    const done = await c.waitAllTerminal(FINISH_MS);
    const { rows } = await c.pool.query<{ over: number }>(
      `SELECT count(*) FILTER (WHERE attempt > 1 AND NOT is_agent_tool)::int AS over FROM agentpg.tool_executions`,
    );
    const { rows: again } = await c.pool.query<{ n: number }>(
      `SELECT count(DISTINCT tool_use_id)::int AS n FROM side_effects s WHERE EXISTS (SELECT 1 FROM side_effects o WHERE o.tool_use_id = s.tool_use_id AND o.id <> s.id)`,
    );
    c.notes.push(
      `stop() took ${stopTimes.join(', ')} ms (shutdownTimeoutMs 200); tool calls handed back and run again elsewhere: ${again[0]!.n}; ` +
        `executions that used more than one attempt: ${rows[0]!.over}`,
    );
    expectClean(await c.verify(done));
    for (const ms of stopTimes) expect(ms).toBeLessThan(5000);
    expect(rows[0]!.over, 'attempts used by hand-backs').toBe(0);
    const { rows: failed } = await c.pool.query(`SELECT count(*)::int AS n FROM agentpg.runs WHERE state = 'failed'`);
    expect(failed[0].n).toBe(0);
  }, 180_000);
});

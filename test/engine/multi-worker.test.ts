import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageRequest } from '../../src/emulator/index.js';
import { reply, startEmulator, type Emulator } from '../../src/emulator/index.js';
import { AgentPG } from '../../src/client.js';
import { migratedDb, type MigratedDb } from '../support/client.js';
import { integrityProblems } from '../support/engine.js';
import { startWorker, stopWorker, type Worker } from '../support/processes.js';

let m: MigratedDb;
let emu: Emulator;
const workers: Worker[] = [];

/** A conversation-aware script: two parallel lookups, then a doubling, then the answer. */
function threeStepAgent(req: MessageRequest) {
  const last = req.messages.at(-1)!;
  const results = Array.isArray(last.content) ? last.content.filter((b) => b.type === 'tool_result') : [];
  const toolTurns = req.messages.filter((t) => Array.isArray(t.content) && t.content.some((b) => b.type === 'tool_result')).length;
  const prompt = JSON.stringify(req.messages[0]!.content);
  const n = Number(/item (\d+)/.exec(prompt)?.[1] ?? 0);
  if (toolTurns === 0) return reply.toolUses([{ name: 'lookup', input: { key: n } }, { name: 'lookup', input: { key: n + 1 } }]);
  if (toolTurns === 1) return reply.toolUse('double', { n });
  return reply.text(`item ${n}: ${results.map((r) => JSON.stringify((r as { content: unknown }).content)).join(',')}`);
}

beforeAll(async () => {
  m = await migratedDb();
  await m.pool.query(`CREATE TABLE side_effects (id serial PRIMARY KEY, execution_id uuid, tool_use_id text, tool text, instance text)`);
  emu = await startEmulator({ batchLatencyMs: 30 });
  emu.script({ system: 'multi worker agent' }, threeStepAgent).repeatLast();
  const env = { AGENTPG_TEST_DB: m.db.url, AGENTPG_TEST_EMULATOR: emu.url, AGENTPG_TOOL_DELAY_MS: '20' };
  workers.push(
    ...(await Promise.all([1, 2, 3].map((i) => startWorker('./worker-process.ts', { ...env, AGENTPG_WORKER_NAME: `w${i}` })))),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => stopWorker(w)));
  await emu?.close();
  await m?.close();
});

describe('three worker processes', () => {
  it('complete 200 concurrent runs with tools: no duplicates, every tool_use answered once, far fewer batches than iterations', async () => {
    // This process only creates runs and waits: all the work happens in the three workers.
    const client = new AgentPG({ driver: m.driver, runPollIntervalMs: 500 });
    const agent = await client.createAgent({
      name: 'multi',
      model: 'claude-haiku-5-5',
      systemPrompt: 'You are the multi worker agent.',
      tools: ['lookup', 'double'],
    });
    const N = 200;
    const sessions = await Promise.all(Array.from({ length: N }, () => client.newSession()));
    const runIds = await Promise.all(sessions.map((s, i) => client.run(s, agent.id, `process item ${i}`)));
    const responses = await Promise.all(runIds.map((id) => client.waitForRun(id, { timeoutMs: 90_000 })));
    responses.forEach((r, i) => {
      expect(r.text).toBe(`item ${i}: "${2 * i}"`);
      expect(r.iterationCount).toBe(3);
    });

    expect(await integrityProblems(m.driver)).toEqual([]);
    const { rows: dup } = await m.pool.query(
      `SELECT tool_use_id, count(*)::int AS n FROM side_effects GROUP BY tool_use_id HAVING count(*) > 1`,
    );
    expect(dup).toEqual([]);
    const { rows: effects } = await m.pool.query(`SELECT count(*)::int AS n, count(DISTINCT instance)::int AS instances FROM side_effects`);
    expect(effects[0].n).toBe(N * 3);
    const { rows: stats } = await m.pool.query(
      `SELECT (SELECT count(*)::int FROM agentpg.iterations) AS iterations,
              (SELECT count(*)::int FROM agentpg.batches WHERE state = 'ended') AS batches`,
    );
    const { iterations, batches } = stats[0];
    expect(iterations).toBe(N * 3);
    console.log(`200 runs, 3 workers: ${iterations} iterations in ${batches} batches (${(iterations / batches).toFixed(1)} iterations per batch); tool calls spread over ${effects[0].instances} instances`);
    expect(batches).toBeLessThan(iterations / 5);
    expect(effects[0].instances).toBeGreaterThan(1);
  }, 120_000);
});

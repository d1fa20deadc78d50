import { startEmulator, type Emulator } from '../../src/emulator/index.js';
import { AgentPG } from '../../src/client.js';
import type { AgentPGConfig } from '../../src/config.js';
import { migratedDb, type MigratedDb } from './client.js';

export interface EngineEnv {
  m: MigratedDb;
  emu: Emulator;
  /** A client wired to the test database and the emulator, with test-speed intervals. */
  client(extra?: Partial<AgentPGConfig<import('pg').PoolClient>>): AgentPG<import('pg').PoolClient>;
  close(): Promise<void>;
}

/** Fast settings so tests finish quickly; correctness never depends on them. */
export const FAST = {
  apiKey: 'sk-test',
  batch: { pollIntervalMs: 40, flushIntervalMs: 15, requeueDelayMs: 10 },
  runPollIntervalMs: 250,
  toolPollIntervalMs: 250,
  toolRetry: { initialDelayMs: 10, maxDelayMs: 50 },
} as const;

export async function engineEnv(): Promise<EngineEnv> {
  const m = await migratedDb();
  const emu = await startEmulator({ batchLatencyMs: 20 });
  const clients: AgentPG<import('pg').PoolClient>[] = [];
  return {
    m,
    emu,
    client(extra = {}) {
      const c = new AgentPG({ driver: m.driver, baseURL: emu.url, ...FAST, ...extra });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.stop().catch(() => {})));
      await emu.close();
      await m.close();
    },
  };
}

/** Checks the conversation invariants of every run in the database; returns the problems found. */
export async function integrityProblems(db: { query: MigratedDb['driver']['query'] }): Promise<string[]> {
  const problems: string[] = [];
  const { rows: unpaired } = await db.query<{ tool_use_id: string; n: number }>(
    `SELECT u.tool_use_id, (SELECT count(*)::int FROM agentpg.content_blocks r WHERE r.tool_result_for_use_id = u.tool_use_id) AS n
     FROM agentpg.content_blocks u WHERE u.type = 'tool_use'`,
  );
  for (const u of unpaired) if (u.n !== 1) problems.push(`tool_use ${u.tool_use_id} has ${u.n} tool_result blocks`);
  const { rows: dupIters } = await db.query<{ iteration_id: string; n: number }>(
    `SELECT iteration_id, count(*)::int AS n FROM agentpg.messages WHERE role = 'assistant' GROUP BY iteration_id HAVING count(*) > 1`,
  );
  for (const d of dupIters) problems.push(`iteration ${d.iteration_id} has ${d.n} assistant messages`);
  const { rows: dupResults } = await db.query<{ iteration_id: string; n: number }>(
    `SELECT iteration_id, count(*)::int AS n FROM agentpg.messages m
     WHERE role = 'user' AND EXISTS (SELECT 1 FROM agentpg.content_blocks b WHERE b.message_id = m.id AND b.type = 'tool_result')
     GROUP BY iteration_id HAVING count(*) > 1`,
  );
  for (const d of dupResults) problems.push(`iteration ${d.iteration_id} has ${d.n} tool_result messages`);
  return problems;
}

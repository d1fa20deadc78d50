import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pgDriver } from '../../src/db/drivers/pg.js';
import type { Queryable } from '../../src/db/driver.js';
import { migrate } from '../../src/db/migrate.js';
import { tables } from '../../src/store/tables.js';
import { cancelRunTree } from '../../src/store/cancel.js';
import { finishedDelegations, pendingDelegations, treeUsage } from '../../src/store/delegation.js';
import { claimStreamingWork } from '../../src/store/iterations.js';
import { acquireLeadership, getLeader } from '../../src/store/leader.js';
import * as rescue from '../../src/store/rescue.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const S = 'plans';
const t = tables(S);
const N = 20_000;
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('plans');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pgDriver(pool), { schema: S });
  const session = (g: string) => `('00000000-0000-0000-0000-' || lpad(to_hex(1 + ${g} % 200), 12, '0'))::uuid`;
  // A history of finished work, so that a statement that scans instead of looking rows up shows in its plan.
  await pool.query(`INSERT INTO ${S}.agents (id, name, model) VALUES ('00000000-0000-0000-0000-000000000001', 'a', 'claude-haiku-5-5')`);
  await pool.query(`INSERT INTO ${S}.sessions (id) SELECT ${session('g')} FROM generate_series(0, 199) g`);
  await pool.query(
    `INSERT INTO ${S}.runs (id, session_id, agent_id, mode, state, prompt, max_iterations, finalized_at)
     SELECT md5('r' || g)::uuid, ${session('g')}, '00000000-0000-0000-0000-000000000001', 'streaming', 'completed', '[]', 10, now()
     FROM generate_series(1, ${N}) g`,
  );
  await pool.query(
    `INSERT INTO ${S}.iterations (id, run_id, iteration_number, mode, state, trigger_type, completed_at)
     SELECT md5('i' || g)::uuid, md5('r' || g)::uuid, 1, 'streaming', 'completed', 'prompt', now() FROM generate_series(1, ${N}) g`,
  );
  await pool.query(
    `INSERT INTO ${S}.tool_executions (run_id, iteration_id, block_index, tool_use_id, tool_name, tool_input, state, max_attempts, completed_at)
     SELECT md5('r' || g)::uuid, md5('i' || g)::uuid, 0, 'toolu_' || g, 'echo', '{}', 'completed', 3, now() FROM generate_series(1, ${N}) g`,
  );
  // Mostly text, as in a chat-heavy history: one message in a thousand answers a tool call.
  await pool.query(
    `INSERT INTO ${S}.messages (session_id, run_id, iteration_id, role)
     SELECT ${session('g')}, md5('r' || g)::uuid, md5('i' || g)::uuid, CASE WHEN g % 1000 = 0 THEN 'user' ELSE 'assistant' END
     FROM generate_series(1, ${N}) g`,
  );
  await pool.query(
    `INSERT INTO ${S}.content_blocks (message_id, block_index, type, raw, text, tool_result_for_use_id)
     SELECT id, 0, CASE role WHEN 'user' THEN 'tool_result' ELSE 'text' END,
            CASE role WHEN 'user' THEN '{"type":"tool_result","tool_use_id":"x","content":"ok"}'::jsonb ELSE '{"type":"text","text":"hi"}'::jsonb END,
            CASE role WHEN 'user' THEN NULL ELSE 'hi' END, CASE role WHEN 'user' THEN 'x' END
     FROM ${S}.messages`,
  );
  await pool.query(`UPDATE ${S}.runs r SET current_iteration_id = md5('i' || g)::uuid FROM generate_series(1, ${N}) g WHERE r.id = md5('r' || g)::uuid`);
  // Live work for every path: a run waiting on a tool whose lease expired, a stream whose lease expired, a new run.
  await pool.query(`UPDATE ${S}.runs SET state = 'pending_tools', finalized_at = NULL WHERE id = md5('r1')::uuid`);
  await pool.query(`UPDATE ${S}.tool_executions SET state = 'running', completed_at = NULL, lease_owner = 'gone', lease_expires_at = now() - interval '1 hour' WHERE run_id = md5('r1')::uuid`);
  await pool.query(`UPDATE ${S}.runs SET state = 'streaming', finalized_at = NULL WHERE id = md5('r2')::uuid`);
  await pool.query(`UPDATE ${S}.iterations SET state = 'streaming', completed_at = NULL, lease_owner = 'gone', lease_expires_at = now() - interval '1 hour' WHERE id = md5('i2')::uuid`);
  await pool.query(
    `INSERT INTO ${S}.runs (id, session_id, agent_id, mode, state, prompt, max_iterations) VALUES (md5('new')::uuid, ${session('7')}, '00000000-0000-0000-0000-000000000001', 'streaming', 'pending', '[]', 10)`,
  );
  await pool.query(`INSERT INTO ${S}.iterations (id, run_id, iteration_number, mode, state, trigger_type) VALUES (md5('newi')::uuid, md5('new')::uuid, 1, 'streaming', 'pending', 'prompt')`);
  await pool.query(`ANALYZE`);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const BIG = /Seq Scan on (runs|iterations|tool_executions|messages|content_blocks)\b/;

describe('statement plans on a database with history', () => {
  // Maintenance and control statements run while the tables hold every run ever made: each must reach its rows
  // through an index. Each statement is planned and run by EXPLAIN ANALYZE, rolled back, then run for real so
  // the next one sees its effect.
  it('rescue, hand-back, cancel, delegation and claim statements scan no big table', async () => {
    const c = await pool.connect();
    const scans: string[] = [];
    const explaining = (label: string): Queryable =>
      ({
        async query(sql: string, params?: unknown[]) {
          const { rows } = await c.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`, params);
          for (const r of rows as { 'QUERY PLAN': string }[]) if (BIG.test(r['QUERY PLAN'])) scans.push(`${label}: ${r['QUERY PLAN'].trim()}`);
          await c.query('ROLLBACK TO SAVEPOINT plan');
          await c.query('SAVEPOINT plan');
          return c.query(sql, params);
        },
      }) as unknown as Queryable;
    try {
      await c.query('BEGIN');
      await acquireLeadership(c as unknown as Queryable, t, 'planner', 60_000);
      const fence = (await getLeader(c as unknown as Queryable, t))!;
      await c.query('SAVEPOINT plan');
      const id = async (k: string) => (await c.query<{ id: string }>(`SELECT md5($1)::uuid AS id`, [k])).rows[0]!.id;

      expect(await rescue.requeueExpiredToolExecutions(explaining('requeueExpiredToolExecutions'), t, fence)).toBe(1);
      expect(await rescue.rescueExpiredStreams(explaining('rescueExpiredStreams'), t, fence, 3)).toBe(1);
      await rescue.rescueExpiredSubmissions(explaining('rescueExpiredSubmissions'), t, fence, 3);
      await rescue.markUnclaimableToolExecutions(explaining('markUnclaimableToolExecutions'), t, fence, 60_000);
      await rescue.handBackInstanceWork(explaining('handBackInstanceWork'), t, 'gone');
      await rescue.deleteDeadInstances(explaining('deleteDeadInstances'), t, fence, 60_000);
      const claimed = await claimStreamingWork(explaining('claimStreamingWork'), t, { instanceId: 'w', limit: 5, leaseMs: 60_000 });
      expect(claimed.claimed.map((x) => x.runId)).toContain(await id('new'));
      await pendingDelegations(explaining('pendingDelegations'), t, 10);
      await finishedDelegations(explaining('finishedDelegations'), t, 10);
      await treeUsage(explaining('treeUsage'), t, await id('r5'));
      expect((await cancelRunTree(explaining('cancelRunTree'), t, await id('r1'), 'test')).cancelled).toEqual([await id('r1')]);
      await rescue.writeToolResultsMessage(explaining('writeToolResultsMessage'), t, await id('r3'), await id('i3'));
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
    expect(scans).toEqual([]);
  });
});

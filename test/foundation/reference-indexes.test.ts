import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('refidx');
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await migrate(pgDriver(pool), { schema: 'refidx' });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('references', () => {
  // A delete (or a cascade) looks up the rows that point at the deleted row through the referencing columns:
  // without an index led by them, PostgreSQL scans the referencing table once per deleted row.
  it('every foreign key has an index led by its columns that a delete can use', async () => {
    const { rows } = await pool.query<{ fk: string; tbl: string; cols: string[]; indexed: boolean }>(
      `SELECT c.conname AS fk, c.conrelid::regclass::text AS tbl,
              array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
              EXISTS (
                SELECT 1 FROM pg_index i
                WHERE i.indrelid = c.conrelid
                  AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                  AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey
                  -- a partial index serves the lookup only if its predicate is "the column is set"
                  AND (i.indpred IS NULL OR pg_get_expr(i.indpred, i.indrelid) ~ '^\\(?\\w+ IS NOT NULL\\)?$')
              ) AS indexed
       FROM pg_constraint c
       WHERE c.contype = 'f' AND c.connamespace = 'refidx'::regnamespace
       ORDER BY 1`,
    );
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.filter((r) => !r.indexed).map((r) => `${r.tbl}(${r.cols.join(', ')}) [${r.fk}]`)).toEqual([]);
  });

  it('deleting a session reaches its rows through indexes, not by scanning every table', async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      // Enough unrelated rows that a scan would be the planner's last resort, and statistics that say so.
      await c.query(`INSERT INTO refidx.agents (id, name, model) VALUES ('00000000-0000-0000-0000-000000000001', 'a', 'claude-haiku-5-5')`);
      await c.query(`INSERT INTO refidx.sessions (id) SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(g), 12, '0'))::uuid FROM generate_series(1, 200) g`);
      await c.query(
        `INSERT INTO refidx.runs (id, session_id, agent_id, mode, state, prompt, max_iterations, finalized_at)
         SELECT md5('r' || g)::uuid, ('00000000-0000-0000-0000-' || lpad(to_hex(1 + g % 200), 12, '0'))::uuid,
                '00000000-0000-0000-0000-000000000001', 'streaming', 'completed', '[]', 10, now()
         FROM generate_series(1, 20000) g`,
      );
      await c.query(
        `INSERT INTO refidx.iterations (id, run_id, iteration_number, mode, state, trigger_type, completed_at)
         SELECT md5('i' || g)::uuid, md5('r' || g)::uuid, 1, 'streaming', 'completed', 'prompt', now() FROM generate_series(1, 20000) g`,
      );
      await c.query(
        `INSERT INTO refidx.messages (session_id, run_id, iteration_id, role)
         SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(1 + g % 200), 12, '0'))::uuid, md5('r' || g)::uuid, md5('i' || g)::uuid, 'assistant'
         FROM generate_series(1, 20000) g`,
      );
      await c.query(
        `UPDATE refidx.runs r SET current_iteration_id = i.id FROM refidx.iterations i WHERE i.run_id = r.id`,
      );
      await c.query('ANALYZE refidx.runs, refidx.iterations, refidx.messages, refidx.tool_executions');
      // Rows a cascade visits are counted per table; a scan of a table visits all of its rows.
      await c.query(`SELECT pg_stat_clear_snapshot()`);
      const before = await seqTuplesRead(c);
      await c.query(`DELETE FROM refidx.sessions WHERE id = '00000000-0000-0000-0000-000000000007'`);
      await c.query(`SELECT pg_stat_clear_snapshot()`);
      const after = await seqTuplesRead(c);
      await c.query('ROLLBACK');
      // 100 runs, iterations and messages went; a single scan of one big table would read 20,000 rows.
      const scanned = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
      expect(scanned).toEqual({});
    } finally {
      c.release();
    }
  });
});

/** Rows read by sequential scans so far in this transaction, per table (pg_stat_xact_user_tables). */
async function seqTuplesRead(c: pg.PoolClient): Promise<Record<string, number>> {
  const { rows } = await c.query<{ relname: string; n: string }>(
    `SELECT relname, seq_tup_read AS n FROM pg_stat_xact_user_tables WHERE schemaname = 'refidx' AND relname IN ('runs', 'iterations', 'messages', 'tool_executions')`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, Number(r.n)]));
}

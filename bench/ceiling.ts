/**
 * The database's limit for this workload shape, pgbench-like but from Node with pg: `concurrency` loops, each
 * a transaction inserting one row and updating it (BEGIN; INSERT … RETURNING; UPDATE; COMMIT). Environment:
 * BENCH_DB, BENCH_CONCURRENCY. Command `run <ms>` answers `{transactions, elapsedMs}`.
 */
import pg from 'pg';
import { serveCommands } from './lib/child.js';
import { ownCpuMs } from './lib/cpu.js';

const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 24);
const pool = new pg.Pool({ connectionString: process.env.BENCH_DB!, max: concurrency });
// Open every connection up front: connecting is not part of the loop.
await Promise.all(Array.from({ length: concurrency }, async () => (await pool.connect()).release()));
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid })}\n`);

async function loop(until: number): Promise<number> {
  const c = await pool.connect();
  let n = 0;
  try {
    while (Date.now() < until) {
      await c.query('BEGIN');
      const { rows } = await c.query<{ id: string }>('INSERT INTO bench_ceiling (payload) VALUES ($1) RETURNING id', ['x']);
      await c.query('UPDATE bench_ceiling SET done = true, updated_at = now() WHERE id = $1', [rows[0]!.id]);
      await c.query('COMMIT');
      n++;
    }
  } finally {
    c.release();
  }
  return n;
}

serveCommands(
  {
    run: async (ms) => {
      const start = Date.now();
      const cpu0 = ownCpuMs();
      const counts = await Promise.all(Array.from({ length: concurrency }, () => loop(start + Number(ms))));
      return { transactions: counts.reduce((a, b) => a + b, 0), elapsedMs: Date.now() - start, cpuMs: ownCpuMs() - cpu0 };
    },
  },
  () => pool.end(),
);

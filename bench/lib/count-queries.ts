/**
 * Counts the SQL a process sends, at the node-postgres protocol boundary: every `Client#query` call is one
 * round trip (node-postgres never pipelines; an extended-protocol query is Parse/Bind/Execute/Sync in one
 * write and one wait). Statements are the same calls, BEGIN/COMMIT/ROLLBACK included; the engine sends no
 * multi-statement texts. Import this before any pool is created.
 */
import pg from 'pg';

export interface QueryCounts {
  roundTrips: number;
  /** BEGIN / COMMIT / ROLLBACK. */
  control: number;
  /** Round trips by the first words of their SQL (to see where they go). */
  byKind: Record<string, number>;
}

let counts: QueryCounts = { roundTrips: 0, control: 0, byKind: {} };

function kind(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (/^(BEGIN|COMMIT|ROLLBACK)/i.test(t)) return t.split(' ')[0]!.toUpperCase();
  // Name a statement by the tables it writes, or else reads: enough to tell the engine's statements apart.
  const writes = [...t.matchAll(/(?:UPDATE|INSERT INTO|DELETE FROM) ("?\w+"?\.)?"?(\w+)"?/gi)].map((m) => m[2]);
  const reads = [...t.matchAll(/FROM ("?\w+"?\.)?"?(\w+)"?/gi)].map((m) => m[2]);
  const fn = /SELECT (pg_\w+|\w+\.\w+)\(/i.exec(t)?.[1];
  if (writes.length) return `write ${[...new Set(writes)].join('+')}`;
  if (fn && !reads.length) return `select ${fn}`;
  return `read ${[...new Set(reads)].slice(0, 3).join('+')}`;
}

const original = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: unknown, ...args: unknown[]) {
  if ((this as { benchUncounted?: boolean }).benchUncounted) return original.apply(this, args);
  const first = args[0] as string | { text?: string } | undefined;
  const text = typeof first === 'string' ? first : (first?.text ?? '');
  counts.roundTrips++;
  const k = kind(text);
  if (k === 'BEGIN' || k === 'COMMIT' || k === 'ROLLBACK') counts.control++;
  counts.byKind[k] = (counts.byKind[k] ?? 0) + 1;
  return original.apply(this, args);
};

export function takeQueryCounts(): QueryCounts {
  const c = counts;
  counts = { roundTrips: 0, control: 0, byKind: {} };
  return c;
}

/** Leaves the queries of this pool's connections out of the counts (the benchmark's own observer). */
export function uncounted(pool: pg.Pool): pg.Pool {
  pool.on('connect', (c) => {
    (c as unknown as { benchUncounted: boolean }).benchUncounted = true;
  });
  return pool;
}

/**
 * Driver conformance: the same behaviour, checked against every driver (pg, postgres.js, PGlite).
 * pg and postgres.js run against a fresh database on the suite's server; PGlite runs in memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import postgres from 'postgres';
import { PGlite } from '@electric-sql/pglite';
import type { Driver, Queryable } from '../../src/db/driver.js';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { postgresDriver } from '../../src/db/drivers/postgresjs.js';
import { pgliteDriver } from '../../src/db/drivers/pglite.js';
import { Notifier } from '../../src/db/notifier.js';
import { AgentPGError, ConfigError, DriverError, constraintName, sqlState } from '../../src/errors.js';
import { createTestDatabase, serverUrl, waitFor, type TestDatabase } from '../support/db.js';

/** What a test needs from one driver setup. */
interface Ctx {
  driver: Driver<never>;
  /** Test database name on the server (null for PGlite). */
  dbName: string | null;
  /**
   * Runs `body` inside a transaction opened with the library's own API and handed to `driver.fromTx`,
   * then commits or rolls back with the library's own API.
   */
  nativeTx(body: (q: Queryable) => Promise<void>, outcome: 'commit' | 'rollback'): Promise<void>;
  /** Closes the driver and everything the test created, leaving no connection behind. */
  closeAll(): Promise<void>;
}

interface Harness {
  name: string;
  /** More than one connection: concurrent transactions and reads outside a transaction are possible. */
  multiConnection: boolean;
  /** A real server: backends can be listed (pg_stat_activity) and terminated. */
  server: boolean;
  setup(): Promise<Ctx>;
}

const ROLLBACK = new Error('rollback requested by the test');

const harnesses: Harness[] = [
  {
    name: 'pg',
    multiConnection: true,
    server: true,
    async setup() {
      const db = await createTestDatabase('drv');
      dbs.push(db);
      const pool = new pg.Pool({ connectionString: db.url, max: 4 });
      pool.on('error', () => {});
      const driver = pgDriver(pool);
      return {
        driver: driver as Driver<never>,
        dbName: db.name,
        async nativeTx(body, outcome) {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await body(driver.fromTx(client));
            await client.query(outcome === 'commit' ? 'COMMIT' : 'ROLLBACK');
          } finally {
            client.release();
          }
        },
        async closeAll() {
          await driver.close();
          // The pool was passed in: close() must not have ended it.
          expect(pool.ending).toBe(false);
          expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
          await pool.end();
        },
      };
    },
  },
  {
    name: 'postgres',
    multiConnection: true,
    server: true,
    async setup() {
      const db = await createTestDatabase('drv');
      dbs.push(db);
      const sql = postgres(db.url, { max: 4, onnotice: () => {} });
      const driver = postgresDriver(sql);
      return {
        driver: driver as Driver<never>,
        dbName: db.name,
        async nativeTx(body, outcome) {
          try {
            await sql.begin(async (tx) => {
              await body(driver.fromTx(tx));
              if (outcome === 'rollback') throw ROLLBACK;
            });
          } catch (err) {
            if (err !== ROLLBACK) throw err;
          }
        },
        async closeAll() {
          await driver.close();
          // The sql instance belongs to the caller: still usable after driver.close().
          expect((await sql`SELECT 1 AS one`)[0]?.one).toBe(1);
          await sql.end();
        },
      };
    },
  },
  {
    name: 'pglite',
    multiConnection: false,
    server: false,
    async setup() {
      const db = new PGlite();
      await db.waitReady;
      const driver = pgliteDriver(db);
      return {
        driver: driver as Driver<never>,
        dbName: null,
        async nativeTx(body, outcome) {
          await db.transaction(async (tx) => {
            await body(driver.fromTx(tx));
            if (outcome === 'rollback') await tx.rollback();
          });
        },
        async closeAll() {
          await driver.close();
          expect(db.closed).toBe(false);
          await db.close();
        },
      };
    },
  },
];

const dbs: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(dbs.map((d) => d.drop()));
});

/** Backends connected to `dbName`, counted from a connection to another database. */
async function backendsOn(dbName: string): Promise<number> {
  const c = new pg.Client({ connectionString: serverUrl() });
  await c.connect();
  try {
    const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [dbName]);
    return r.rows[0]!.n;
  } finally {
    await c.end();
  }
}

/** A deferred promise, for holding a transaction open while the test looks from outside. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each(harnesses)('$name driver', (h) => {
  let ctx: Ctx;
  let driver: Driver<never>;
  const notifiers: Notifier[] = [];

  const notifier = () => {
    const n = new Notifier(driver, { reconnectMinMs: 10, reconnectMaxMs: 200 });
    notifiers.push(n);
    return n;
  };
  const notify = (channel: string, payload: string) => driver.query('SELECT pg_notify($1, $2)', [channel, payload]);
  const count = async (q: Queryable, k: string) =>
    (await q.query<{ n: number }>('SELECT count(*)::int AS n FROM items WHERE k = $1', [k])).rows[0]!.n;

  beforeAll(async () => {
    ctx = await h.setup();
    driver = ctx.driver;
    await driver.query(`
      CREATE TABLE items (
        id serial PRIMARY KEY,
        k text NOT NULL CONSTRAINT items_k_key UNIQUE,
        n int,
        doc jsonb,
        at timestamptz,
        ids uuid[]
      );
      CREATE TABLE jobs (id int PRIMARY KEY, state text NOT NULL DEFAULT 'pending')
    `);
  });

  afterAll(async () => {
    await Promise.all(notifiers.map((n) => n.stop()));
  });

  it('has a name', () => {
    expect(driver.name).toBe(h.name);
  });

  describe('parameters', () => {
    it('round-trips scalars: text, int, float, boolean, null, Date', async () => {
      const text = `plain 'quoted' "double" back\\slash é 😀 \u2028 \t end`;
      const at = new Date('2024-02-29T23:59:58.123Z');
      const r = await driver.query<Record<string, unknown>>(
        `SELECT $1::text AS t, $2::int AS i, $3::float8 AS f, $4::boolean AS b, $5::text AS nul,
                $6::timestamptz AS at, $6::timestamptz = '2024-02-29T23:59:58.123Z'::timestamptz AS same_instant,
                $7::text AS empty, $8::int AS negative, $9::boolean AS f2`,
        [text, 42, 1.25, true, null, at, '', -7, false],
      );
      expect(r.rows).toEqual([
        { t: text, i: 42, f: 1.25, b: true, nul: null, at, same_instant: true, empty: '', negative: -7, f2: false },
      ]);
      expect(r.rows[0]!.at).toBeInstanceOf(Date);
    });

    it('passes untyped text parameters as text the server infers', async () => {
      const r = await driver.query<{ id: number }>(`INSERT INTO items (k, n) VALUES ($1, $2) RETURNING id`, ['untyped', 3]);
      expect(typeof r.rows[0]!.id).toBe('number');
      const back = await driver.query<{ k: string; n: number }>('SELECT k, n FROM items WHERE k = $1 AND n = $2', ['untyped', 3]);
      expect(back.rows).toEqual([{ k: 'untyped', n: 3 }]);
    });

    it('round-trips text[] with awkward elements', async () => {
      const arr = ['a', 'b,c', '"quoted"', 'back\\slash', '{brace}', 'NULL', '', 'sp ace', 'é😀'];
      const r = await driver.query<{ a: string[]; len: number }>('SELECT $1::text[] AS a, cardinality($1::text[]) AS len', [arr]);
      expect(r.rows[0]).toEqual({ a: arr, len: arr.length });
    });

    it('round-trips uuid[] via $1::uuid[] and matches with = ANY', async () => {
      const ids = ['8b7a4c1e-1111-4222-8333-444455556666', '00000000-0000-4000-8000-000000000001'];
      await driver.query('INSERT INTO items (k, ids) VALUES ($1, $2::uuid[])', ['uuids', ids]);
      const r = await driver.query<{ ids: string[]; hit: boolean }>(
        `SELECT ids, $2::uuid = ANY(ids) AS hit FROM items WHERE k = $1`,
        ['uuids', ids[1]!],
      );
      expect(r.rows).toEqual([{ ids, hit: true }]);
      const any = await driver.query<{ u: string }>('SELECT u::text AS u FROM unnest($1::uuid[]) AS u ORDER BY 1', [ids]);
      expect(any.rows.map((x) => x.u)).toEqual([...ids].sort());
    });

    it('round-trips int[] and empty arrays', async () => {
      const r = await driver.query<Record<string, unknown>>(
        'SELECT $1::int[] AS ints, $2::text[] AS et, $3::uuid[] AS eu, $4::int[] AS ei, cardinality($2::text[]) AS n',
        [[1, -2, 3], [], [], []],
      );
      expect(r.rows[0]).toEqual({ ints: [1, -2, 3], et: [], eu: [], ei: [], n: 0 });
    });

    it('takes jsonb as a JSON string with ::jsonb: nested objects, unicode, scalars, JSON null', async () => {
      const doc = {
        name: 'é ü 中文 😀 \u2028 "quotes" \\ back',
        nested: { deep: { list: [1, 2.5, null, true, 'x'], empty: {} }, arr: [] },
        n: -0.5,
      };
      await driver.query('INSERT INTO items (k, doc) VALUES ($1, $2::jsonb)', ['json', JSON.stringify(doc)]);
      const stored = await driver.query<{ doc: unknown; t: string; name: string }>(
        `SELECT doc, jsonb_typeof(doc) AS t, doc->>'name' AS name FROM items WHERE k = $1`,
        ['json'],
      );
      expect(stored.rows).toEqual([{ doc, t: 'object', name: doc.name }]);

      const scalars = await driver.query<Record<string, unknown>>(
        `SELECT $1::jsonb AS s, jsonb_typeof($1::jsonb) AS st, $2::jsonb AS nul, jsonb_typeof($2::jsonb) AS nt,
                $3::jsonb AS arr, $4::jsonb AS num`,
        [JSON.stringify('just a string'), 'null', JSON.stringify([{ a: 1 }, 'b']), '12.5'],
      );
      expect(scalars.rows[0]).toEqual({ s: 'just a string', st: 'string', nul: null, nt: 'null', arr: [{ a: 1 }, 'b'], num: 12.5 });
    });

    it('keeps a large jsonb document intact', async () => {
      const big = { items: Array.from({ length: 2000 }, (_, i) => ({ i, s: `élément ${i}` })) };
      const r = await driver.query<{ d: unknown }>('SELECT $1::jsonb AS d', [JSON.stringify(big)]);
      expect(r.rows[0]!.d).toEqual(big);
    });
  });

  describe('results', () => {
    it('decodes timestamptz, jsonb, int4, float8, bool, arrays, uuid, int8, numeric', async () => {
      const r = await driver.query<Record<string, unknown>>(`
        SELECT '2024-01-02T03:04:05.678Z'::timestamptz AS ts,
               '{"a":{"b":[1,"x",null]},"u":"é"}'::jsonb AS j,
               '[1,2]'::json AS js,
               7::int4 AS i4, 3::int2 AS i2, 2.5::float8 AS f8, 0.5::float4 AS f4, true AS b,
               ARRAY['x','y']::text[] AS arr, ARRAY[1,2]::int[] AS iarr,
               '8b7a4c1e-1111-4222-8333-444455556666'::uuid AS u,
               5::int8 AS small8, 9007199254740993::int8 AS big8, ARRAY[5, 9007199254740993]::int8[] AS arr8,
               count(*) OVER () AS cnt,
               12.50::numeric AS num,
               NULL::jsonb AS nj, NULL::timestamptz AS nts
      `);
      const row = r.rows[0]!;
      expect(row.ts).toBeInstanceOf(Date);
      expect((row.ts as Date).toISOString()).toBe('2024-01-02T03:04:05.678Z');
      expect(row.j).toEqual({ a: { b: [1, 'x', null] }, u: 'é' });
      expect(row.js).toEqual([1, 2]);
      expect(row).toMatchObject({ i4: 7, i2: 3, f8: 2.5, f4: 0.5, b: true, arr: ['x', 'y'], iarr: [1, 2] });
      expect(row.u).toBe('8b7a4c1e-1111-4222-8333-444455556666');
      // int8 and numeric: strings with every driver's defaults (PGlite normalised to match).
      expect(row.small8).toBe('5');
      expect(row.big8).toBe('9007199254740993');
      expect(row.arr8).toEqual(['5', '9007199254740993']);
      expect(row.cnt).toBe('1');
      expect(row.num).toBe('12.50');
      expect(row.nj).toBeNull();
      expect(row.nts).toBeNull();
    });

    it('reports rowCount for INSERT, UPDATE, DELETE and SELECT', async () => {
      const ins = await driver.query(`INSERT INTO items (k, n) VALUES ('rc1', 1), ('rc2', 1), ('rc3', 2)`);
      expect(ins.rowCount).toBe(3);
      expect(ins.rows).toEqual([]);
      const upd = await driver.query(`UPDATE items SET n = n + 10 WHERE k LIKE 'rc%' AND n = $1`, [1]);
      expect(upd.rowCount).toBe(2);
      const none = await driver.query(`UPDATE items SET n = 0 WHERE k = $1`, ['missing']);
      expect(none.rowCount).toBe(0);
      const sel = await driver.query(`SELECT k FROM items WHERE k LIKE 'rc%' ORDER BY k`);
      expect(sel.rowCount).toBe(3);
      expect(sel.rows).toEqual([{ k: 'rc1' }, { k: 'rc2' }, { k: 'rc3' }]);
      const empty = await driver.query(`SELECT k FROM items WHERE k = $1`, ['missing']);
      expect(empty).toEqual({ rows: [], rowCount: 0 });
      const del = await driver.query(`DELETE FROM items WHERE k LIKE 'rc%' RETURNING k`);
      expect(del.rowCount).toBe(3);
      expect(del.rows).toHaveLength(3);
    });

    it('runs a parameterless text with several statements and returns the last result', async () => {
      const r = await driver.query<{ n: number }>(`
        CREATE TABLE multi (x int);
        INSERT INTO multi VALUES (1), (2), (3);
        SELECT sum(x)::int AS n FROM multi
      `);
      expect(r.rows).toEqual([{ n: 6 }]);
      expect(r.rowCount).toBe(1);
    });

    it('rejects bad SQL with the SQLSTATE readable by sqlState()', async () => {
      const err = await driver.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
      expect(sqlState(err)).toBe('42P01');
      const err2 = await driver.query('SELECT $1::int AS x', ['not a number']).catch((e: unknown) => e);
      expect(sqlState(err2)).toBe('22P02');
    });
  });

  describe('transactions', () => {
    it('commits when fn resolves and returns its value', async () => {
      const out = await driver.transaction(async (tx) => {
        await tx.query('INSERT INTO items (k) VALUES ($1)', ['tx-commit']);
        expect(await count(tx, 'tx-commit')).toBe(1);
        return ['value', 1] as const;
      });
      expect(out).toEqual(['value', 1]);
      expect(await count(driver, 'tx-commit')).toBe(1);
    });

    it('rolls back when fn throws and rethrows the very same error', async () => {
      const boom = new Error('boom');
      const err = await driver
        .transaction(async (tx) => {
          await tx.query('INSERT INTO items (k) VALUES ($1)', ['tx-rollback']);
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(err).toBe(boom);
      expect(await count(driver, 'tx-rollback')).toBe(0);
    });

    it('propagates a unique violation with sqlState() and constraintName()', async () => {
      await driver.query('INSERT INTO items (k) VALUES ($1)', ['dup']);
      const err = await driver
        .transaction(async (tx) => {
          await tx.query('INSERT INTO items (k) VALUES ($1)', ['dup-first']);
          await tx.query('INSERT INTO items (k) VALUES ($1)', ['dup']);
        })
        .catch((e: unknown) => e);
      expect(sqlState(err)).toBe('23505');
      expect(constraintName(err)).toBe('items_k_key');
      expect(await count(driver, 'dup-first')).toBe(0);
    });

    it('rejects with the statement error when fn swallowed it (nothing is committed)', async () => {
      await driver.query('INSERT INTO items (k) VALUES ($1)', ['swallow']);
      const err = await driver
        .transaction(async (tx) => {
          await tx.query('INSERT INTO items (k) VALUES ($1)', ['swallow-first']);
          await tx.query('INSERT INTO items (k) VALUES ($1)', ['swallow']).catch(() => undefined);
          return 'resolved anyway';
        })
        .catch((e: unknown) => e);
      expect(sqlState(err)).toBe('23505');
      expect(await count(driver, 'swallow-first')).toBe(0);
    });

    it('stays usable after failed transactions', async () => {
      for (let i = 0; i < 6; i++) {
        await driver.transaction(async (tx) => tx.query('SELECT * FROM no_such_table')).catch(() => undefined);
      }
      const r = await driver.transaction(async (tx) => (await tx.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one);
      expect(r).toBe(1);
    });

    it.runIf(h.multiConnection)('hides uncommitted writes from queries outside the transaction', async () => {
      const inside = deferred();
      const release = deferred();
      const tx = driver.transaction(async (q) => {
        await q.query('INSERT INTO items (k) VALUES ($1)', ['hidden']);
        inside.resolve();
        await release.promise;
      });
      await inside.promise;
      expect(await count(driver, 'hidden')).toBe(0);
      release.resolve();
      await tx;
      expect(await count(driver, 'hidden')).toBe(1);
    });

    // PGlite has one connection: transactions are serialised (next test), so SKIP LOCKED never meets a competitor.
    it.runIf(h.multiConnection)('FOR UPDATE SKIP LOCKED: two concurrent transactions claim different rows', async () => {
      await driver.query(`INSERT INTO jobs (id) SELECT g FROM generate_series(1, 4) g`);
      const claim = (q: Queryable) =>
        q.query<{ id: number }>(
          `UPDATE jobs SET state = 'running' WHERE id IN (
             SELECT id FROM jobs WHERE state = 'pending' ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED
           ) RETURNING id`,
        );
      const firstClaimed = deferred<number[]>();
      const secondDone = deferred();
      const first = driver.transaction(async (q) => {
        const r = await claim(q);
        firstClaimed.resolve(r.rows.map((x) => x.id).sort());
        await secondDone.promise; // hold the locks while the second transaction claims
        return r.rows.map((x) => x.id).sort();
      });
      const a = await firstClaimed.promise;
      const b = await driver.transaction(async (q) => (await claim(q)).rows.map((x) => x.id).sort());
      secondDone.resolve();
      expect(await first).toEqual(a);
      expect(a).toEqual([1, 2]);
      expect(b).toEqual([3, 4]);
    });

    it('concurrent SKIP LOCKED claims never hand the same row to two transactions', async () => {
      await driver.query(`INSERT INTO jobs (id) SELECT g FROM generate_series(101, 116) g`);
      const claims = await Promise.all(
        Array.from({ length: 8 }, () =>
          driver.transaction(async (q) => {
            const r = await q.query<{ id: number }>(
              `UPDATE jobs SET state = 'running' WHERE id IN (
                 SELECT id FROM jobs WHERE state = 'pending' AND id > 100 ORDER BY id LIMIT 2 FOR UPDATE SKIP LOCKED
               ) RETURNING id`,
            );
            return r.rows.map((x) => x.id);
          }),
        ),
      );
      const all = claims.flat().sort((a, b) => a - b);
      expect(new Set(all).size).toBe(all.length);
      // Under contention a claimer may come back short (rows locked by others), never with a duplicate.
      expect(all.every((id) => id >= 101 && id <= 116)).toBe(true);
      if (!h.multiConnection) expect(all).toEqual(Array.from({ length: 16 }, (_, i) => 101 + i));
    });

    it.runIf(!h.multiConnection)('serialises: a query sent while a transaction is open waits for it to end', async () => {
      const inside = deferred();
      const release = deferred();
      let seen: number | undefined;
      let seenInside: number | undefined = -1;
      const tx = driver.transaction(async (q) => {
        await q.query('INSERT INTO items (k) VALUES ($1)', ['serial']);
        inside.resolve();
        await release.promise;
        // Give the queued statements every chance to slip in between ours.
        for (let i = 0; i < 5; i++) await q.query('SELECT 1');
        seenInside = seen;
      });
      await inside.promise;
      const outside = count(driver, 'serial').then((n) => (seen = n));
      const second = driver.transaction(async (q) => count(q, 'serial'));
      release.resolve();
      await tx;
      expect(seenInside).toBeUndefined();
      await outside;
      expect(seen).toBe(1);
      expect(await second).toBe(1);
    });

    it.runIf(h.name === 'pglite')('rejects driver.query() inside driver.transaction() instead of deadlocking', async () => {
      const err = await driver
        .transaction(async () => {
          await driver.query('SELECT 1');
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect((err as AgentPGError).code).toBe('driver_error');
      // And the database is still fine afterwards.
      expect((await driver.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    });
  });

  describe('fromTx with the library’s own transaction', () => {
    it('writes in the user transaction: visible after commit, NOTIFY delivered only at commit', async () => {
      const n = notifier();
      const got: string[] = [];
      const markers: string[] = [];
      await n.subscribe('fromtx', (p) => void got.push(p));
      await n.subscribe('marker', (p) => void markers.push(p));
      await n.start();
      await ctx.nativeTx(async (q) => {
        await q.query('INSERT INTO items (k) VALUES ($1)', ['fromtx-commit']);
        await q.query('SELECT pg_notify($1, $2)', ['fromtx', 'committed']);
        expect(await count(q, 'fromtx-commit')).toBe(1);
        if (h.multiConnection) {
          expect(await count(driver, 'fromtx-commit')).toBe(0);
          // A notification sent and committed after ours arrives; ours (not yet committed) does not.
          await notify('marker', 'during');
          await waitFor(() => markers.includes('during'), { message: 'marker notification' });
        } else {
          await q.query('SELECT 1');
        }
        expect(got).toEqual([]);
      }, 'commit');
      await waitFor(() => got.includes('committed'), { message: 'notification at commit' });
      expect(got).toEqual(['committed']);
      expect(await count(driver, 'fromtx-commit')).toBe(1);
      await n.stop();
    });

    it('writes in the user transaction: gone after rollback, NOTIFY never delivered', async () => {
      const n = notifier();
      const got: string[] = [];
      const markers: string[] = [];
      await n.subscribe('fromtx-rb', (p) => void got.push(p));
      await n.subscribe('marker', (p) => void markers.push(p));
      await n.start();
      await ctx.nativeTx(async (q) => {
        await q.query('INSERT INTO items (k) VALUES ($1)', ['fromtx-rollback']);
        await q.query('SELECT pg_notify($1, $2)', ['fromtx-rb', 'rolled back']);
        expect(await count(q, 'fromtx-rollback')).toBe(1);
      }, 'rollback');
      await notify('marker', 'after');
      await waitFor(() => markers.includes('after'), { message: 'marker notification' });
      expect(got).toEqual([]);
      expect(await count(driver, 'fromtx-rollback')).toBe(0);
      await n.stop();
    });
  });

  describe('listener (through the Notifier)', () => {
    it('multiplexes several channels over one connection', async () => {
      const n = notifier();
      const got: Record<string, string[]> = { a: [], b: [], c: [] };
      await n.subscribe('chan_a', (p) => void got.a!.push(p));
      await n.start();
      await n.subscribe('chan_b', (p) => void got.b!.push(p));
      await n.subscribe('agentpg.run_created', (p) => void got.c!.push(p));
      expect(n.connected).toBe(true);
      await notify('chan_a', '1');
      await notify('chan_b', '2');
      await notify('agentpg.run_created', '3');
      await waitFor(() => got.a!.length && got.b!.length && got.c!.length, { message: 'three channels' });
      expect(got).toEqual({ a: ['1'], b: ['2'], c: ['3'] });

      if (h.server) {
        expect(typeof n.backendPid).toBe('number');
        // Listener backends of earlier tests may still be exiting: wait until only ours is left.
        const listenerPids = async () =>
          (
            await driver.query<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^\\s*(UN)?LISTEN'`,
            )
          ).rows.map((r) => r.pid);
        await waitFor(async () => (await listenerPids()).length === 1, { message: 'a single LISTEN backend' });
        expect(await listenerPids()).toEqual([n.backendPid]);
      } else {
        expect(n.backendPid).toBeNull();
      }
      await n.stop();
    });

    it('keeps channel names with dots and upper case exact', async () => {
      const n = notifier();
      const got: string[] = [];
      await n.subscribe('Agent.Run.Done', (p, ch) => void got.push(`${ch}:${p}`));
      await n.subscribe('agent.run.done', (p, ch) => void got.push(`${ch}:${p}`));
      await n.start();
      await notify('Agent.Run.Done', 'upper');
      await notify('agent.run.done', 'lower');
      await notify('AGENT.RUN.DONE', 'other'); // nobody listens to this one
      await waitFor(() => got.length >= 2, { message: 'both cases' });
      await notify('agent.run.done', 'end');
      await waitFor(() => got.includes('agent.run.done:end'), { message: 'end marker' });
      expect(got).toEqual(['Agent.Run.Done:upper', 'agent.run.done:lower', 'agent.run.done:end']);
      await n.stop();
    });

    it('unsubscribes one handler without disturbing others, and UNLISTENs with the last', async () => {
      const n = notifier();
      const one: string[] = [];
      const two: string[] = [];
      const markers: string[] = [];
      await n.start();
      const unsubOne = await n.subscribe('unsub', (p) => void one.push(p));
      const unsubTwo = await n.subscribe('unsub', (p) => void two.push(p));
      await n.subscribe('marker', (p) => void markers.push(p));
      await notify('unsub', 'both');
      await waitFor(() => one.length === 1 && two.length === 1);
      await unsubOne();
      await unsubOne(); // idempotent
      await notify('unsub', 'only-two');
      await waitFor(() => two.length === 2);
      await unsubTwo();
      await notify('unsub', 'nobody');
      await notify('marker', 'done');
      await waitFor(() => markers.includes('done'));
      expect(one).toEqual(['both']);
      expect(two).toEqual(['both', 'only-two']);
      if (h.server) {
        // The last unsubscribe issued UNLISTEN on the listener's session.
        const last = await driver.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [n.backendPid]);
        expect(last.rows[0]?.query).toMatch(/^UNLISTEN "unsub"$/);
      }
      await n.stop();
    });

    it('delivers payloads up to ~7900 bytes, multi-byte characters intact', async () => {
      const n = notifier();
      const got: string[] = [];
      await n.subscribe('big', (p) => void got.push(p));
      await n.start();
      const ascii = 'x'.repeat(7900);
      const multi = 'é😀ab'.repeat(Math.floor(7900 / Buffer.byteLength('é😀ab')));
      expect(Buffer.byteLength(multi)).toBeGreaterThan(7850);
      await notify('big', ascii);
      await notify('big', multi);
      await notify('big', '');
      await waitFor(() => got.length === 3, { message: 'three payloads' });
      expect(got[0]).toBe(ascii);
      expect(got[1]).toBe(multi);
      expect(got[2]).toBe('');
      await n.stop();
    });

    // PGlite is one in-process session: there is no backend to terminate and its listener never dies.
    it.skipIf(!h.server)('reconnects after pg_terminate_backend, re-LISTENs, fires onReconnect, delivers again [needs a server backend; not PGlite]', async () => {
      const n = notifier();
      const got: string[] = [];
      let reconnects = 0;
      let listenedAtReconnect = false;
      await n.subscribe('re_a', (p) => void got.push(`a:${p}`));
      await n.subscribe('Re.B', (p) => void got.push(`b:${p}`));
      await n.start();
      n.onReconnect(() => {
        reconnects++;
        listenedAtReconnect = n.connected;
      });
      for (let round = 1; round <= 2; round++) {
        const pid = n.backendPid;
        expect(pid).toEqual(expect.any(Number));
        const killed = await driver.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
        expect(killed.rows[0]!.ok).toBe(true);
        await waitFor(() => reconnects === round && n.connected, { message: `reconnect ${round}` });
        expect(listenedAtReconnect).toBe(true);
        expect(n.backendPid).not.toBe(pid);
        await notify('re_a', String(round));
        await notify('Re.B', String(round));
        await waitFor(() => got.includes(`a:${round}`) && got.includes(`b:${round}`), { message: `delivery after reconnect ${round}` });
      }
      // A channel subscribed after the reconnect works too, on the same single connection.
      const late: string[] = [];
      await n.subscribe('re_late', (p) => void late.push(p));
      await notify('re_late', 'hi');
      await waitFor(() => late.length === 1);
      // Terminated backends may take a moment to exit; then exactly one LISTEN backend remains: ours.
      await waitFor(
        async () => {
          const r = await driver.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ~* '^\\s*(UN)?LISTEN'`,
          );
          return r.rows.length === 1 && r.rows[0]!.pid === n.backendPid;
        },
        { message: 'one LISTEN backend after reconnects' },
      );
      await n.stop();
    });

    it.skipIf(!h.server)('stop() during a reconnect wait leaves no connection behind [needs a server backend; not PGlite]', async () => {
      const n = new Notifier(driver, { reconnectMinMs: 60_000, reconnectMaxMs: 60_000 });
      notifiers.push(n);
      await n.subscribe('stop_wait', () => {});
      await n.start();
      const pid = n.backendPid;
      await driver.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor(() => !n.connected, { message: 'disconnect noticed' });
      await n.stop();
      expect(n.connected).toBe(false);
      // No listener backend left: neither the terminated one (it may take a moment to exit) nor a new one.
      await waitFor(
        async () => {
          const r = await driver.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()
                AND (pid = $1 OR query ~* '^\\s*(UN)?LISTEN' OR query = 'SELECT pg_backend_pid() AS pid')`,
            [pid],
          );
          return r.rows[0]!.n === 0;
        },
        { message: 'no listener backend after stop()' },
      );
    });

    it('stop() closes the LISTEN connection', async () => {
      const n = notifier();
      await n.subscribe('stopme', () => {});
      await n.start();
      const pid = n.backendPid;
      await n.stop();
      expect(n.connected).toBe(false);
      expect(n.backendPid).toBeNull();
      if (h.server) {
        await waitFor(
          async () => (await driver.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0]!.n === 0,
          { message: 'listener backend gone' },
        );
      }
      // Restartable: subscriptions survive stop().
      const got: string[] = [];
      await n.subscribe('stopme', (p) => void got.push(p));
      await n.start();
      await notify('stopme', 'again');
      await waitFor(() => got.includes('again'));
      await n.stop();
    });
  });

  it('close() (after notifiers stop) leaves no connection to the test database', async () => {
    const n = notifier();
    await n.subscribe('final', () => {});
    await n.start();
    await n.stop();
    await ctx.closeAll();
    if (ctx.dbName) {
      const dbName = ctx.dbName;
      await waitFor(async () => (await backendsOn(dbName)) === 0, { message: `no backends on ${dbName}` });
    }
  });
});

describe('driver-specific construction', () => {
  it('pgDriver(connection string) creates its own pool and ends it on close()', async () => {
    const db = await createTestDatabase('drvown');
    dbs.push(db);
    const d = pgDriver(db.url);
    expect((await d.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await d.transaction(async (tx) => tx.query('SELECT 1'));
    const n = new Notifier(d);
    await n.start();
    await d.close(); // also closes the listener it opened
    await d.close(); // idempotent
    await waitFor(async () => (await backendsOn(db.name)) === 0, { message: 'own pool ended' });
    await n.stop();
  });

  it('pgDriver(config) accepts a PoolConfig', async () => {
    const d = pgDriver({ connectionString: serverUrl(), max: 1 });
    expect((await d.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await d.close();
  });

  it('postgresDriver rejects instances that transform results or skip array types', async () => {
    const camel = postgres(serverUrl(), { transform: postgres.camel });
    const noTypes = postgres(serverUrl(), { fetch_types: false });
    try {
      expect(() => postgresDriver(camel)).toThrow(ConfigError);
      expect(() => postgresDriver(noTypes)).toThrow(ConfigError);
    } finally {
      await camel.end();
      await noTypes.end();
    }
  });

  it('postgresDriver leaves the caller’s own JSON serialisation untouched', async () => {
    const sql = postgres(serverUrl(), { max: 1 });
    try {
      const d = postgresDriver(sql);
      postgresDriver(sql); // a second driver on the same instance is fine
      // The caller's tagged-template JSON keeps postgres.js semantics (a JS string becomes a JSON string)...
      const [mine] = await sql`SELECT ${'{"a":1}'}::jsonb AS j, jsonb_typeof(${'{"a":1}'}::jsonb) AS t`;
      expect(mine).toEqual({ j: '{"a":1}', t: 'string' });
      const [obj] = await sql`SELECT ${sql.json({ a: 1 })}::jsonb AS j`;
      expect(obj).toEqual({ j: { a: 1 } });
      // ...while the driver's string parameters are plain text.
      const r = await d.query('SELECT $1::jsonb AS j, jsonb_typeof($1::jsonb) AS t', ['{"a":1}']);
      expect(r.rows).toEqual([{ j: { a: 1 }, t: 'object' }]);
    } finally {
      await sql.end();
    }
  });

  it('pgliteDriver works on a PGlite that already has data, and never closes it', async () => {
    const db = new PGlite();
    await db.exec('CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
    const d = pgliteDriver(db);
    expect((await d.query<{ x: number }>('SELECT x FROM t')).rows).toEqual([{ x: 1 }]);
    await d.close();
    expect(db.closed).toBe(false);
    await db.close();
  });
});

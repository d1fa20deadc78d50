import pg from 'pg';
import { pgDriver } from '../../src/db/drivers/pg.js';
import type { Driver, Queryable, SqlParam } from '../../src/db/driver.js';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface MigratedDb {
  db: TestDatabase;
  pool: pg.Pool;
  driver: Driver<pg.PoolClient>;
  close(): Promise<void>;
}

/** A fresh database with agentpg migrated into `schema`, and a pg driver on it. */
export async function migratedDb(schema = 'agentpg'): Promise<MigratedDb> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  const driver = pgDriver(pool);
  await migrate(driver, { schema });
  return {
    db,
    pool,
    driver,
    async close() {
      await driver.close();
      await pool.end();
      await db.drop();
    },
  };
}

/** Wraps a Queryable and counts the statements sent through it. */
export function countingQueryable(inner: Queryable): Queryable & { count: number; statements: string[] } {
  const wrapper = {
    count: 0,
    statements: [] as string[],
    query<R>(sql: string, params?: readonly SqlParam[]) {
      wrapper.count++;
      wrapper.statements.push(sql);
      return inner.query<R>(sql, params);
    },
  };
  return wrapper;
}

export async function countRows(db: Queryable, table: string, schema = 'agentpg'): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::int AS n FROM "${schema}"."${table}"`);
  return Number(rows[0]!.n);
}

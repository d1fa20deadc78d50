import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { loadMigrations, migrate, migrateDown, migrationStatus, renderMigrationSql } from '../../src/db/migrate.js';
import { MigrationError, ValidationError } from '../../src/errors.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase('mig');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function tablesIn(schema: string): Promise<string[]> {
  const { rows } = await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema]);
  return rows.map((r) => r.tablename as string);
}

describe('migrations', () => {
  it('ships numbered up and down files with checksums', () => {
    const list = loadMigrations();
    expect(list.length).toBeGreaterThan(0);
    expect(list[0]!.version).toBe(1);
    list.forEach((m, i) => {
      expect(m.version).toBe(i + 1);
      expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it('rewrites only the schema qualifier', () => {
    const sql = renderMigrationSql('CREATE SCHEMA IF NOT EXISTS agentpg;\nCREATE TABLE agentpg.x (agentpg_col int); -- agentpg here', 'tenant_a');
    expect(sql).toBe('CREATE SCHEMA IF NOT EXISTS "tenant_a";\nCREATE TABLE "tenant_a".x (agentpg_col int); -- agentpg here');
  });

  it('migrates a fresh database, reports status, and is a no-op the second time', async () => {
    const driver = pgDriver(pool);
    expect((await migrationStatus(driver, { schema: 'm1' })).every((s) => !s.applied)).toBe(true);
    const applied = await migrate(driver, { schema: 'm1' });
    expect(applied).toEqual(loadMigrations().map((m) => m.version));
    expect(await tablesIn('m1')).toEqual(
      expect.arrayContaining(['agents', 'sessions', 'runs', 'iterations', 'batches', 'messages', 'content_blocks', 'tool_executions', 'tools', 'instances', 'instance_tools', 'leader', 'compaction_events', 'message_archive', 'schema_migrations']),
    );
    expect(await migrate(driver, { schema: 'm1' })).toEqual([]);
    const status = await migrationStatus(driver, { schema: 'm1' });
    expect(status.every((s) => s.applied && s.appliedAt instanceof Date)).toBe(true);
  });

  it('applies each version exactly once when many processes migrate at the same moment', async () => {
    const pools = Array.from({ length: 8 }, () => new pg.Pool({ connectionString: db.url, max: 1 }));
    try {
      const results = await Promise.all(pools.map((p) => migrate(pgDriver(p), { schema: 'concurrent' })));
      const all = results.flat().sort();
      expect(all).toEqual(loadMigrations().map((m) => m.version));
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM concurrent.schema_migrations`);
      expect(rows[0].n).toBe(loadMigrations().length);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('migrates down and up again', async () => {
    const driver = pgDriver(pool);
    await migrate(driver, { schema: 'updown' });
    const reverted = await migrateDown(driver, { schema: 'updown', to: 0 });
    expect(reverted).toEqual(loadMigrations().map((m) => m.version).reverse());
    expect(await tablesIn('updown')).toEqual(['schema_migrations']);
    await migrate(driver, { schema: 'updown' });
    expect(await tablesIn('updown')).toContain('runs');
  });

  it('refuses to run when an applied migration was edited afterwards', async () => {
    const driver = pgDriver(pool);
    await migrate(driver, { schema: 'edited' });
    await pool.query(`UPDATE edited.schema_migrations SET checksum = 'x' WHERE version = 1`);
    await expect(migrate(driver, { schema: 'edited' })).rejects.toBeInstanceOf(MigrationError);
    await expect(migrate(driver, { schema: 'edited' })).rejects.toThrow(/changed after it was applied/);
  });

  it('rejects schema names that are not plain identifiers, touching nothing', async () => {
    const driver = pgDriver(pool);
    await expect(migrate(driver, { schema: 'bad"; DROP TABLE x; --' })).rejects.toBeInstanceOf(ValidationError);
    await expect(migrate(driver, { schema: 'Upper' })).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});

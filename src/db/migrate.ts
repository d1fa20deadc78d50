import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Driver, Queryable } from './driver.js';
import { MigrationError, ValidationError } from '../errors.js';
import { quoteIdent, validateSchemaName } from './identifiers.js';

/** One numbered migration shipped in the package's `migrations/` folder. */
export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
  /** sha256 of the up file as shipped, so an applied migration edited later is detected. */
  checksum: string;
}

export interface MigrationStatus {
  version: number;
  name: string;
  applied: boolean;
  appliedAt: Date | null;
}

export interface MigrateOptions {
  /** Postgres schema holding agentpg's tables. Default `agentpg`. */
  schema?: string;
  /** Apply up to and including this version (default: all). */
  target?: number;
}

/** Folder with the SQL files; the same relative place from src/ (tsx) and dist/ (built). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

const FILE = /^(\d{3,})_([a-z0-9_]+)\.(up|down)\.sql$/;

/** Reads the shipped migrations, ordered by version. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const byVersion = new Map<number, Partial<Migration> & { version: number; name: string }>();
  for (const file of readdirSync(dir)) {
    const m = FILE.exec(file);
    if (!m) continue;
    const version = Number(m[1]);
    const entry = byVersion.get(version) ?? { version, name: m[2]! };
    const text = readFileSync(join(dir, file), 'utf8');
    if (m[3] === 'up') {
      entry.up = text;
      entry.checksum = createHash('sha256').update(text).digest('hex');
    } else entry.down = text;
    byVersion.set(version, entry);
  }
  const list = [...byVersion.values()].sort((a, b) => a.version - b.version);
  for (const m of list) {
    if (m.up === undefined || m.down === undefined) {
      throw new MigrationError(`migration ${m.version} (${m.name}) needs both an .up.sql and a .down.sql file`);
    }
  }
  return list as Migration[];
}

/** Rewrites the `agentpg.` qualifier of the shipped SQL to the configured schema. */
export function renderMigrationSql(sql: string, schema: string): string {
  const q = quoteIdent(validateSchemaName(schema));
  return sql.replace(/\bagentpg(?=[.;])/g, q);
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
}

/**
 * Every migration step runs in its own transaction holding a transaction-scoped advisory lock keyed by the
 * schema, so any number of processes may call migrate() at once: one applies each version, the others wait
 * and then find nothing left to do.
 */
async function lockAndEnsureTable(tx: Queryable, schema: string): Promise<string> {
  const q = quoteIdent(schema);
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`agentpg:migrate:${schema}`]);
  await tx.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
  await tx.query(
    `CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (
       version    integer PRIMARY KEY,
       name       text NOT NULL,
       checksum   text NOT NULL,
       applied_at timestamptz NOT NULL DEFAULT now()
     )`,
  );
  return `${q}.schema_migrations`;
}

async function appliedRows(tx: Queryable, table: string): Promise<AppliedRow[]> {
  const { rows } = await tx.query<AppliedRow>(`SELECT version, name, checksum, applied_at FROM ${table} ORDER BY version`);
  return rows.map((r) => ({ ...r, version: Number(r.version) }));
}

function checkIntegrity(applied: AppliedRow[], known: Migration[]): void {
  for (const row of applied) {
    const m = known.find((k) => k.version === row.version);
    if (!m) {
      throw new MigrationError(
        `the database has migration ${row.version} (${row.name}), which this version of agentpg does not know; ` +
          'upgrade agentpg or migrate down with the version that applied it',
        { version: row.version },
      );
    }
    if (m.checksum !== row.checksum) {
      throw new MigrationError(
        `migration ${row.version} (${row.name}) changed after it was applied; shipped migrations are never edited, ` +
          'a change needs a new numbered migration',
        { version: row.version },
      );
    }
  }
}

/** Applies every pending migration in order. Returns the versions applied by this call. */
export async function migrate(driver: Driver, options: MigrateOptions = {}): Promise<number[]> {
  const schema = validateSchemaName(options.schema ?? 'agentpg');
  const known = loadMigrations();
  const target = options.target ?? known.at(-1)?.version ?? 0;
  if (!Number.isInteger(target) || target < 0) throw new ValidationError(`migration target must be a version number, got ${target}`);
  const done: number[] = [];
  for (;;) {
    const appliedNow = await driver.transaction(async (tx) => {
      const table = await lockAndEnsureTable(tx, schema);
      const applied = await appliedRows(tx, table);
      checkIntegrity(applied, known);
      const have = new Set(applied.map((r) => r.version));
      const next = known.find((m) => !have.has(m.version) && m.version <= target);
      if (!next) return null;
      try {
        await tx.query(renderMigrationSql(next.up, schema));
      } catch (err) {
        throw new MigrationError(`migration ${next.version} (${next.name}) failed: ${(err as Error).message}`, { version: next.version }, err);
      }
      await tx.query(`INSERT INTO ${table} (version, name, checksum) VALUES ($1, $2, $3)`, [next.version, next.name, next.checksum]);
      return next.version;
    });
    if (appliedNow === null) return done;
    done.push(appliedNow);
  }
}

/** Reverts the latest `steps` migrations (default 1), or down to (not including) `to` when given. */
export async function migrateDown(
  driver: Driver,
  options: { schema?: string; steps?: number; to?: number } = {},
): Promise<number[]> {
  const schema = validateSchemaName(options.schema ?? 'agentpg');
  const known = loadMigrations();
  const steps = options.steps ?? (options.to === undefined ? 1 : Number.POSITIVE_INFINITY);
  if (!(steps >= 1)) throw new ValidationError(`steps must be at least 1, got ${options.steps}`);
  const floor = options.to ?? 0;
  const reverted: number[] = [];
  while (reverted.length < steps) {
    const version = await driver.transaction(async (tx) => {
      const table = await lockAndEnsureTable(tx, schema);
      const applied = await appliedRows(tx, table);
      checkIntegrity(applied, known);
      const last = applied.at(-1);
      if (!last || last.version <= floor) return null;
      const m = known.find((k) => k.version === last.version)!;
      try {
        await tx.query(renderMigrationSql(m.down, schema));
      } catch (err) {
        throw new MigrationError(`reverting migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { version: m.version }, err);
      }
      await tx.query(`DELETE FROM ${table} WHERE version = $1`, [m.version]);
      return m.version;
    });
    if (version === null) break;
    reverted.push(version);
  }
  return reverted;
}

/** Lists every shipped migration and whether it is applied. */
export async function migrationStatus(driver: Driver, options: { schema?: string } = {}): Promise<MigrationStatus[]> {
  const schema = validateSchemaName(options.schema ?? 'agentpg');
  const known = loadMigrations();
  const { rows: exists } = await driver.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [
    `${quoteIdent(schema)}.schema_migrations`,
  ]);
  const applied = exists[0]?.t
    ? await appliedRows(driver, `${quoteIdent(schema)}.schema_migrations`)
    : [];
  return known.map((m) => {
    const row = applied.find((r) => r.version === m.version);
    return { version: m.version, name: m.name, applied: !!row, appliedAt: row?.applied_at ?? null };
  });
}

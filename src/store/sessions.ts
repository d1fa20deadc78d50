import type { Queryable } from '../db/driver.js';
import type { JsonObject, Page, Session } from '../types.js';
import type { Tables } from './tables.js';
import { date, jsonb, num } from './convert.js';
import { json } from '../validation.js';

const COLUMNS = 'id, parent_session_id, depth, metadata, compaction_count, created_at, updated_at';

interface SessionRow {
  id: string;
  parent_session_id: string | null;
  depth: unknown;
  metadata: unknown;
  compaction_count: unknown;
  created_at: unknown;
  updated_at: unknown;
}

function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    parentSessionId: r.parent_session_id,
    depth: num(r.depth),
    metadata: jsonb<JsonObject>(r.metadata),
    compactionCount: num(r.compaction_count),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

/** Inserts a session; with a parent, depth is derived from it in the same statement. Null when the parent is missing. */
export async function insertSession(
  db: Queryable,
  t: Tables,
  parentSessionId: string | null,
  metadata: JsonObject,
): Promise<Session | null> {
  const { rows } = parentSessionId
    ? await db.query<SessionRow>(
        `INSERT INTO ${t.sessions} (parent_session_id, depth, metadata)
         SELECT p.id, p.depth + 1, $2::jsonb FROM ${t.sessions} p WHERE p.id = $1
         RETURNING ${COLUMNS}`,
        [parentSessionId, json(metadata)],
      )
    : await db.query<SessionRow>(`INSERT INTO ${t.sessions} (metadata) VALUES ($1::jsonb) RETURNING ${COLUMNS}`, [json(metadata)]);
  return rows[0] ? toSession(rows[0]) : null;
}

export async function getSession(db: Queryable, t: Tables, id: string): Promise<Session | null> {
  const { rows } = await db.query<SessionRow>(`SELECT ${COLUMNS} FROM ${t.sessions} WHERE id = $1`, [id]);
  return rows[0] ? toSession(rows[0]) : null;
}

const ORDER = {
  created_desc: 'created_at DESC, id DESC',
  created_asc: 'created_at ASC, id ASC',
  updated_desc: 'updated_at DESC, id DESC',
  updated_asc: 'updated_at ASC, id ASC',
} as const;

export async function listSessions(
  db: Queryable,
  t: Tables,
  opts: { metadata?: JsonObject; limit: number; offset: number; order: keyof typeof ORDER },
): Promise<Page<Session>> {
  const filter = opts.metadata ? json(opts.metadata) : null;
  const { rows } = await db.query<SessionRow & { total: unknown }>(
    `SELECT ${COLUMNS}, count(*) OVER () AS total FROM ${t.sessions}
     WHERE ($1::jsonb IS NULL OR metadata @> $1::jsonb)
     ORDER BY ${ORDER[opts.order]} LIMIT $2 OFFSET $3`,
    [filter, opts.limit, opts.offset],
  );
  if (rows.length === 0 && opts.offset > 0) {
    const { rows: c } = await db.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM ${t.sessions} WHERE ($1::jsonb IS NULL OR metadata @> $1::jsonb)`,
      [filter],
    );
    return { items: [], total: num(c[0]!.n) };
  }
  return { items: rows.map(toSession), total: rows[0] ? num(rows[0].total) : 0 };
}

export async function updateSessionMetadata(db: Queryable, t: Tables, id: string, metadata: JsonObject): Promise<Session | null> {
  const { rows } = await db.query<SessionRow>(
    `UPDATE ${t.sessions} SET metadata = $2::jsonb, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, json(metadata)],
  );
  return rows[0] ? toSession(rows[0]) : null;
}

export async function deleteSession(db: Queryable, t: Tables, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${t.sessions} WHERE id = $1`, [id]);
  return rowCount > 0;
}

/** Runs of the session (or its child sessions) that are not finished; a delete would cut them off. */
export async function activeRunsInSession(db: Queryable, t: Tables, id: string): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>(
    `SELECT count(*) AS n FROM ${t.runs} r JOIN ${t.sessions} s ON s.id = r.session_id
     WHERE (s.id = $1 OR s.parent_session_id = $1) AND r.finalized_at IS NULL`,
    [id],
  );
  return num(rows[0]!.n);
}

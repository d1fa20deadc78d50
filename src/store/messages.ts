import type { Queryable, SqlParam } from '../db/driver.js';
import type { ContentBlockParam, JsonObject, Message, Usage } from '../types.js';
import type { Tables } from './tables.js';
import { date, jsonb } from './convert.js';
import { json } from '../validation.js';

export interface NewMessage {
  sessionId: string;
  runId: string | null;
  iterationId: string | null;
  role: 'user' | 'assistant';
  content: readonly ContentBlockParam[];
  usage?: Usage | null;
  metadata?: JsonObject;
}

/** SQL expressions for each column of a message inserted by {@link insertMessageCte}. */
export interface MessageCteColumns {
  id?: string;
  session: string;
  run: string;
  iteration: string;
  role: string;
  usage: string;
  metadata: string;
  /** A jsonb array of content blocks. */
  content: string;
  /** A CTE name: the message is inserted once per row it yields (0 or 1), so a failed guard inserts nothing. */
  gate?: string;
  name?: string;
}

/**
 * A CTE inserting a message and all its content blocks in the same statement (named `m` unless `name` is
 * given; yields id, seq). Engine statements embed it so a model response, its message and the run's
 * transition commit together, in one round trip.
 */
export function insertMessageCte(t: Tables, c: MessageCteColumns): string {
  const name = c.name ?? 'm';
  return `${name} AS (
      INSERT INTO ${t.messages} (id, session_id, run_id, iteration_id, role, usage, metadata)
      SELECT ${c.id ?? 'gen_random_uuid()'}, ${c.session}, ${c.run}, ${c.iteration}, ${c.role}, ${c.usage}, ${c.metadata}
      ${c.gate ? `FROM ${c.gate}` : ''}
      RETURNING id, seq, created_at
    ), ${name}_blocks AS (
      INSERT INTO ${t.content_blocks}
        (message_id, block_index, type, raw, text, tool_use_id, tool_name, tool_input, tool_result_for_use_id, is_error)
      SELECT ${name}.id, e.ord - 1, e.blk ->> 'type', e.blk,
             CASE e.blk ->> 'type' WHEN 'text' THEN e.blk ->> 'text' WHEN 'thinking' THEN e.blk ->> 'thinking' END,
             CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk ->> 'id' END,
             CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk ->> 'name' END,
             CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk -> 'input' END,
             CASE WHEN e.blk ->> 'type' = 'tool_result' THEN e.blk ->> 'tool_use_id' END,
             coalesce((e.blk ->> 'is_error')::boolean, false)
      FROM ${name}, jsonb_array_elements(${c.content}) WITH ORDINALITY AS e(blk, ord)
    )`;
}

/** Column expressions `$base..$base+6` with their values, for a message whose every column is a parameter. */
export function messageColumns(base: number, msg: NewMessage): { columns: MessageCteColumns; params: SqlParam[] } {
  const p = (i: number) => `$${base + i}`;
  return {
    columns: {
      session: `${p(0)}::uuid`,
      run: `${p(1)}::uuid`,
      iteration: `${p(2)}::uuid`,
      role: `${p(3)}::text`,
      usage: `${p(4)}::jsonb`,
      metadata: `${p(5)}::jsonb`,
      content: `${p(6)}::jsonb`,
    },
    params: [
      msg.sessionId,
      msg.runId,
      msg.iterationId,
      msg.role,
      msg.usage ? json(msg.usage) : null,
      json(msg.metadata ?? {}),
      json(msg.content),
    ],
  };
}

export async function insertMessage(db: Queryable, t: Tables, msg: NewMessage): Promise<{ id: string; seq: number }> {
  const { columns, params } = messageColumns(1, msg);
  const { rows } = await db.query<{ id: string; seq: unknown }>(`WITH ${insertMessageCte(t, columns)} SELECT id, seq FROM m`, params);
  return { id: rows[0]!.id, seq: Number(rows[0]!.seq) };
}

interface MessageRow {
  id: string;
  session_id: string;
  run_id: string | null;
  role: 'user' | 'assistant';
  usage: unknown;
  is_preserved: boolean;
  is_summary: boolean;
  metadata: unknown;
  created_at: unknown;
  content: unknown;
}

export function toMessage(r: MessageRow): Message {
  return {
    id: r.id,
    sessionId: r.session_id,
    runId: r.run_id,
    role: r.role,
    content: jsonb<ContentBlockParam[]>(r.content) ?? [],
    usage: jsonb<Usage | null>(r.usage),
    isPreserved: r.is_preserved,
    isSummary: r.is_summary,
    metadata: jsonb<JsonObject>(r.metadata),
    createdAt: date(r.created_at),
  };
}

/** Blocks of every selected message are aggregated inside the database: one round trip, whatever the count. */
export const MESSAGE_SELECT = (t: Tables) => `m.id, m.session_id, m.run_id, m.role, m.usage, m.is_preserved, m.is_summary,
  m.metadata, m.created_at,
  coalesce((SELECT jsonb_agg(cb.raw ORDER BY cb.block_index) FROM ${t.content_blocks} cb WHERE cb.message_id = m.id), '[]'::jsonb) AS content`;

/**
 * The latest `limit` messages of a session's live history (optionally older than `before`), oldest first.
 * Messages of runs superseded by a regeneration are left out unless `includeSuperseded`.
 */
export async function listSessionMessages(
  db: Queryable,
  t: Tables,
  sessionId: string,
  opts: { limit: number | null; before: string | null; includeSuperseded?: boolean },
): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_SELECT(t)} FROM (
       SELECT * FROM ${t.messages}
       WHERE session_id = $1
         AND ($2::uuid IS NULL OR seq < (SELECT seq FROM ${t.messages} WHERE id = $2 AND session_id = $1))
         AND ($4 OR run_id IS NULL OR NOT EXISTS (SELECT 1 FROM ${t.runs} o WHERE o.id = run_id AND o.superseded_by_run_id IS NOT NULL))
       ORDER BY seq DESC
       LIMIT $3
     ) m ORDER BY m.seq`,
    [sessionId, opts.before, opts.limit, opts.includeSuperseded ?? false],
  );
  return rows.map(toMessage);
}

export async function listRunMessages(db: Queryable, t: Tables, runId: string): Promise<Message[]> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_SELECT(t)} FROM ${t.messages} m WHERE m.run_id = $1 ORDER BY m.seq`,
    [runId],
  );
  return rows.map(toMessage);
}

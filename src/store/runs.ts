import type { Queryable, SqlParam } from '../db/driver.js';
import type { ContentBlockParam, JsonObject, Page, Run, RunBlock, RunMode, RunState } from '../types.js';
import { channel, type Tables } from './tables.js';
import { date, dateOrNull, jsonb, num } from './convert.js';
import { insertMessageCte, messageColumns } from './messages.js';
import { json } from '../validation.js';

export const TERMINAL_RUN_STATES: readonly RunState[] = ['completed', 'cancelled', 'failed'];

export const RUN_COLUMNS = `id, session_id, agent_id, mode, parent_run_id, parent_tool_execution_id, depth, state, prompt,
  variables, metadata, max_iterations, override_instructions, append_instructions, current_iteration, response_text,
  stop_reason, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, iteration_count,
  tool_iterations, error_type, error_message, idempotency_key, created_at, started_at, finalized_at`;

/**
 * The `blocked` column of a run row (alias `runs`, or the table itself): its pending tool calls that the leader
 * found unclaimable (no live instance registered their tool), as {tools, since}, or NULL.
 */
export function blockedColumn(t: Tables, runRef: string = t.runs): string {
  return `(SELECT jsonb_build_object('tools', jsonb_agg(DISTINCT te.tool_name), 'since', min(te.unclaimable_since))
           FROM ${t.tool_executions} te
           WHERE te.run_id = ${runRef}.id AND te.state = 'pending' AND te.unclaimable_since IS NOT NULL
           HAVING count(*) > 0) AS blocked`;
}

function toBlock(v: unknown): RunBlock | null {
  const b = jsonb<{ tools: string[]; since: string } | null | undefined>(v);
  if (!b) return null;
  const since = new Date(b.since);
  const names = b.tools.map((n) => `"${n}"`).join(', ');
  return {
    reason: 'tool_unavailable',
    tools: b.tools,
    since,
    message: `waiting for tool ${names}: no live instance has registered it (since ${since.toISOString()})`,
  };
}

export interface RunRow {
  id: string;
  session_id: string;
  agent_id: string;
  mode: RunMode;
  parent_run_id: string | null;
  parent_tool_execution_id: string | null;
  depth: unknown;
  state: RunState;
  prompt: unknown;
  variables: unknown;
  metadata: unknown;
  max_iterations: unknown;
  override_instructions: string | null;
  append_instructions: string | null;
  current_iteration: unknown;
  response_text: string | null;
  stop_reason: string | null;
  input_tokens: unknown;
  output_tokens: unknown;
  cache_creation_input_tokens: unknown;
  cache_read_input_tokens: unknown;
  iteration_count: unknown;
  tool_iterations: unknown;
  error_type: string | null;
  error_message: string | null;
  idempotency_key: string | null;
  created_at: unknown;
  started_at: unknown;
  finalized_at: unknown;
  blocked?: unknown;
}

export function toRun(r: RunRow): Run {
  return {
    id: r.id,
    sessionId: r.session_id,
    agentId: r.agent_id,
    mode: r.mode,
    parentRunId: r.parent_run_id,
    parentToolExecutionId: r.parent_tool_execution_id,
    depth: num(r.depth),
    state: r.state,
    prompt: jsonb<ContentBlockParam[]>(r.prompt),
    variables: jsonb<JsonObject>(r.variables),
    metadata: jsonb<JsonObject>(r.metadata),
    maxIterations: num(r.max_iterations),
    overrideInstructions: r.override_instructions,
    appendInstructions: r.append_instructions,
    currentIteration: num(r.current_iteration),
    responseText: r.response_text,
    stopReason: r.stop_reason,
    usage: {
      inputTokens: num(r.input_tokens),
      outputTokens: num(r.output_tokens),
      cacheCreationInputTokens: num(r.cache_creation_input_tokens),
      cacheReadInputTokens: num(r.cache_read_input_tokens),
    },
    iterationCount: num(r.iteration_count),
    toolIterations: num(r.tool_iterations),
    errorType: r.error_type,
    errorMessage: r.error_message,
    idempotencyKey: r.idempotency_key,
    createdAt: date(r.created_at),
    startedAt: dateOrNull(r.started_at),
    finalizedAt: dateOrNull(r.finalized_at),
    blocked: toBlock(r.blocked),
  };
}

export interface NewRun {
  id: string;
  iterationId: string;
  sessionId: string;
  agentId: string;
  mode: RunMode;
  prompt: ContentBlockParam[];
  variables: JsonObject;
  metadata: JsonObject;
  maxIterations: number;
  overrideInstructions: string | null;
  appendInstructions: string | null;
  idempotencyKey: string | null;
  instanceId: string | null;
  parentRunId?: string | null;
  parentToolExecutionId?: string | null;
  depth?: number;
}

/**
 * Creates the run, its prompt message and its first (pending) iteration in one statement, and wakes the
 * workers of its mode. Returns null when the session or agent is missing, or the idempotency key is taken.
 */
export async function insertRun(db: Queryable, t: Tables, run: NewRun): Promise<string | null> {
  const params: SqlParam[] = [
    run.id,
    run.sessionId,
    run.agentId,
    run.mode,
    json(run.prompt),
    json(run.variables),
    json(run.metadata),
    run.maxIterations,
    run.overrideInstructions,
    run.appendInstructions,
    run.idempotencyKey,
    run.instanceId,
    run.iterationId,
    channel(t.schema, 'iteration'),
    run.parentRunId ?? null,
    run.parentToolExecutionId ?? null,
    run.depth ?? 0,
  ];
  const msg = messageColumns(params.length + 1, {
    sessionId: run.sessionId,
    runId: run.id,
    iterationId: run.iterationId,
    role: 'user',
    content: run.prompt,
  });
  params.push(...msg.params);
  const { rows } = await db.query<{ id: string }>(
    `WITH s AS (SELECT id FROM ${t.sessions} WHERE id = $2),
     a AS (SELECT id FROM ${t.agents} WHERE id = $3),
     r AS (
       INSERT INTO ${t.runs} (id, session_id, agent_id, mode, prompt, variables, metadata, max_iterations,
         override_instructions, append_instructions, idempotency_key, created_by_instance_id, current_iteration,
         current_iteration_id, parent_run_id, parent_tool_execution_id, depth)
       SELECT $1, s.id, a.id, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, 1, $13, $15, $16, $17 FROM s, a
       ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING id, mode
     ),
     i AS (
       INSERT INTO ${t.iterations} (id, run_id, iteration_number, mode, trigger_type)
       SELECT $13, r.id, 1, r.mode, 'prompt' FROM r
     ),
     ${insertMessageCte(t, { ...msg.columns, gate: 'r' })}
     SELECT r.id, pg_notify($14, r.mode) FROM r`,
    params,
  );
  return rows[0]?.id ?? null;
}

export async function runIdByIdempotencyKey(db: Queryable, t: Tables, key: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(`SELECT id FROM ${t.runs} WHERE idempotency_key = $1`, [key]);
  return rows[0]?.id ?? null;
}

export async function getRun(db: Queryable, t: Tables, id: string): Promise<Run | null> {
  const { rows } = await db.query<RunRow>(`SELECT ${RUN_COLUMNS}, ${blockedColumn(t)} FROM ${t.runs} WHERE id = $1`, [id]);
  return rows[0] ? toRun(rows[0]) : null;
}

export async function listRuns(
  db: Queryable,
  t: Tables,
  o: { sessionId: string | null; agentId: string | null; states: RunState[] | null; limit: number; offset: number },
): Promise<Page<Run>> {
  const { rows } = await db.query<RunRow & { total: unknown }>(
    `SELECT ${RUN_COLUMNS}, ${blockedColumn(t)}, count(*) OVER () AS total FROM ${t.runs}
     WHERE ($1::uuid IS NULL OR session_id = $1) AND ($2::uuid IS NULL OR agent_id = $2)
       AND ($3::text[] IS NULL OR state = ANY($3::text[]))
     ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5`,
    [o.sessionId, o.agentId, o.states, o.limit, o.offset],
  );
  if (rows.length === 0 && o.offset > 0) {
    const { rows: c } = await db.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM ${t.runs} WHERE ($1::uuid IS NULL OR session_id = $1) AND ($2::uuid IS NULL OR agent_id = $2)
         AND ($3::text[] IS NULL OR state = ANY($3::text[]))`,
      [o.sessionId, o.agentId, o.states],
    );
    return { items: [], total: num(c[0]!.n) };
  }
  return { items: rows.map(toRun), total: rows[0] ? num(rows[0].total) : 0 };
}

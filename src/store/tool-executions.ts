import type { Queryable } from '../db/driver.js';
import type { JsonObject, JsonValue, ToolCall, ToolExecution, ToolExecutionState } from '../types.js';
import { channel, type Tables } from './tables.js';
import { date, dateOrNull, jsonb, num } from './convert.js';
import { json } from '../validation.js';

export const TERMINAL_TOOL_STATES: readonly ToolExecutionState[] = ['completed', 'failed', 'cancelled', 'discarded', 'skipped'];

interface ExecRow {
  id: string;
  run_id: string;
  iteration_id: string;
  iteration_number?: unknown;
  tool_use_id: string;
  tool_name: string;
  tool_input: unknown;
  state: ToolExecutionState;
  is_agent_tool: boolean;
  child_run_id: string | null;
  output: unknown;
  is_error: boolean;
  error_message: string | null;
  attempt: unknown;
  max_attempts: unknown;
  snooze_count: unknown;
  created_at: unknown;
  started_at: unknown;
  completed_at: unknown;
}

function toExecution(r: ExecRow): ToolExecution {
  return {
    id: r.id,
    runId: r.run_id,
    iterationId: r.iteration_id,
    toolUseId: r.tool_use_id,
    toolName: r.tool_name,
    input: jsonb<JsonValue>(r.tool_input),
    state: r.state,
    isAgentTool: r.is_agent_tool,
    childRunId: r.child_run_id,
    output: jsonb<JsonValue | null>(r.output),
    isError: r.is_error,
    errorMessage: r.error_message,
    attempt: num(r.attempt),
    maxAttempts: num(r.max_attempts),
    snoozeCount: num(r.snooze_count),
    createdAt: date(r.created_at),
    startedAt: dateOrNull(r.started_at),
    completedAt: dateOrNull(r.completed_at),
  };
}

const EXEC_COLUMNS = `te.id, te.run_id, te.iteration_id, i.iteration_number, te.tool_use_id, te.tool_name, te.tool_input, te.state,
  te.is_agent_tool, te.child_run_id, te.output, te.is_error, te.error_message, te.attempt, te.max_attempts, te.snooze_count,
  te.created_at, te.started_at, te.completed_at`;

export async function listRunToolExecutions(db: Queryable, t: Tables, runId: string): Promise<(ToolExecution & { iteration: number })[]> {
  const { rows } = await db.query<ExecRow>(
    `SELECT ${EXEC_COLUMNS} FROM ${t.tool_executions} te JOIN ${t.iterations} i ON i.id = te.iteration_id
     WHERE te.run_id = $1 ORDER BY i.iteration_number, te.block_index`,
    [runId],
  );
  return rows.map((r) => ({ ...toExecution(r), iteration: num(r.iteration_number) }));
}

export function toToolCall(e: ToolExecution & { iteration: number }): ToolCall {
  return {
    toolUseId: e.toolUseId,
    name: e.toolName,
    input: e.input,
    output: e.output,
    isError: e.isError,
    error: e.isError ? (e.errorMessage ?? (typeof e.output === 'string' ? e.output : null)) : null,
    state: e.state,
    iteration: e.iteration,
    attempts: e.attempt,
    durationMs: e.startedAt && e.completedAt ? e.completedAt.getTime() - e.startedAt.getTime() : null,
  };
}

/** A claimed tool call with what its tool needs to run. */
export interface ClaimedExecution {
  id: string;
  runId: string;
  iterationId: string;
  sessionId: string;
  agentId: string;
  toolUseId: string;
  toolName: string;
  input: unknown;
  attempt: number;
  maxAttempts: number;
  variables: JsonObject;
}

export type ExecutionFinish =
  | { kind: 'completed'; output: JsonValue }
  | { kind: 'failed' | 'cancelled' | 'discarded'; output: string; error: string }
  | { kind: 'retry'; delayMs: number; error: string }
  | { kind: 'snooze'; delayMs: number }
  /** Back to the queue at once, the attempt not counted (the client is stopping). */
  | { kind: 'handback' };

/**
 * Records how a claimed execution ended, guarded by our lease. Returns the run and iteration when the
 * execution became terminal (the caller then tries the continuation), 'requeued' for retry/snooze, or
 * null when the lease was lost (somebody else owns the call now; our result is dropped).
 */
export async function finishToolExecution(
  db: Queryable,
  t: Tables,
  id: string,
  owner: string,
  f: ExecutionFinish,
): Promise<{ runId: string; iterationId: string; terminal: boolean } | null> {
  const terminal = f.kind === 'completed' || f.kind === 'failed' || f.kind === 'cancelled' || f.kind === 'discarded';
  const state = terminal ? f.kind : 'pending';
  const output = f.kind === 'completed' ? json(f.output) : terminal ? json((f as { output: string }).output) : null;
  const error = 'error' in f ? f.error : null;
  const delay = f.kind === 'retry' || f.kind === 'snooze' ? f.delayMs : 0;
  const uncount = f.kind === 'snooze' || f.kind === 'handback';
  const { rows } = await db.query<{ run_id: string; iteration_id: string; tool_name: string }>(
    `UPDATE ${t.tool_executions} SET state = $3, output = $4::jsonb, is_error = $5, error_message = $6,
       last_error = coalesce($6, last_error),
       completed_at = CASE WHEN $7 THEN now() END,
       lease_owner = NULL, lease_expires_at = NULL,
       scheduled_at = CASE WHEN $7 THEN scheduled_at ELSE now() + $8 * interval '1 millisecond' END,
       attempt = attempt - CASE WHEN $9 THEN 1 ELSE 0 END,
       snooze_count = snooze_count + CASE WHEN $10 THEN 1 ELSE 0 END
     WHERE id = $1 AND state = 'running' AND lease_owner = $2
     RETURNING run_id, iteration_id, tool_name`,
    [id, owner, state, output, terminal && f.kind !== 'completed', error, terminal, delay, uncount, f.kind === 'snooze'],
  );
  const r = rows[0];
  if (!r) return null;
  if (!terminal && delay === 0) await db.query(`SELECT pg_notify($1, $2)`, [channel(t.schema, 'tool'), r.tool_name]);
  return { runId: r.run_id, iterationId: r.iteration_id, terminal };
}

/** Tool names as SQL literals (names are validated `[a-zA-Z0-9_-]{1,64}`; anything else is refused). */
function nameLiterals(names: readonly string[]): string {
  return names
    .map((n) => {
      if (!/^[a-zA-Z0-9_-]{1,64}$/.test(n)) throw new Error(`invalid tool name ${JSON.stringify(n)}`);
      return `'${n}'`;
    })
    .join(', ');
}

/**
 * Leases pending executions of tools this instance registered (never agent tools), oldest first, and says when
 * the next scheduled (retrying or snoozed) one is due, in one statement. The attempt counter moves here, so a
 * worker that dies mid-call has used an attempt. The tool names and the claim size
 * (a power of two, at most `limit`: see `limit` in the result) are written into the text, so that the prepared
 * statement keeps one generic plan rather than being planned on every call.
 */
export async function claimToolWork(
  db: Queryable,
  t: Tables,
  a: { instanceId: string; toolNames: readonly string[]; limit: number; leaseMs: number },
): Promise<{ claimed: ClaimedExecution[]; limit: number; nextDueInMs: number | null }> {
  const limit = a.limit < 1 ? 0 : 2 ** Math.floor(Math.log2(Math.min(a.limit, 65_536)));
  if (limit === 0 || a.toolNames.length === 0) return { claimed: [], limit, nextDueInMs: null };
  const names = nameLiterals(a.toolNames);
  const { rows } = await db.query<{
    id: string | null;
    run_id: string;
    iteration_id: string;
    session_id: string;
    agent_id: string;
    tool_use_id: string;
    tool_name: string;
    tool_input: unknown;
    attempt: unknown;
    max_attempts: unknown;
    variables: unknown;
    next_due_ms: unknown;
  }>(
    `WITH pick AS (
       SELECT id FROM ${t.tool_executions}
       WHERE state = 'pending' AND tool_name IN (${names}) AND NOT is_agent_tool AND scheduled_at <= now()
       ORDER BY scheduled_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
     ), c AS (
       UPDATE ${t.tool_executions} te SET state = 'running', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
         attempt = te.attempt + 1, started_at = coalesce(te.started_at, now())
       FROM pick, ${t.runs} r
       -- id = ANY(ARRAY(...)): primary-key lookups of the claimed rows, never a scan of every row in that state
       WHERE te.id = pick.id AND te.id = ANY(ARRAY(SELECT id FROM pick)) AND r.id = te.run_id
       RETURNING te.id, te.run_id, te.iteration_id, r.session_id, r.agent_id, te.tool_use_id, te.tool_name, te.tool_input,
         te.attempt, te.max_attempts, r.variables
     )
     SELECT c.*,
            (SELECT extract(epoch FROM (min(scheduled_at) - now())) * 1000 FROM ${t.tool_executions}
             WHERE state = 'pending' AND tool_name IN (${names}) AND NOT is_agent_tool AND scheduled_at > now()) AS next_due_ms
     FROM (SELECT 1) one LEFT JOIN c ON true`,
    [a.instanceId, a.leaseMs],
  );
  const due = rows[0]?.next_due_ms;
  return {
    limit,
    nextDueInMs: due === null || due === undefined ? null : Math.max(0, num(due)),
    claimed: rows
      .filter((r) => r.id !== null)
      .map((r) => ({
        id: r.id!,
        runId: r.run_id,
        iterationId: r.iteration_id,
        sessionId: r.session_id,
        agentId: r.agent_id,
        toolUseId: r.tool_use_id,
        toolName: r.tool_name,
        input: jsonb(r.tool_input),
        attempt: num(r.attempt),
        maxAttempts: num(r.max_attempts),
        variables: jsonb<JsonObject>(r.variables),
      })),
  };
}

/**
 * {@link finishToolExecution} for many executions in one statement, each guarded by our lease. Returns the ones
 * recorded (an execution whose lease was lost is left out: somebody else owns it now). The caller continues the
 * runs whose executions became terminal, holding their locks (lockRuns) from before this statement.
 */
export async function finishToolExecutions(
  db: Queryable,
  t: Tables,
  owner: string,
  items: readonly { id: string; finish: ExecutionFinish }[],
): Promise<{ id: string; runId: string; iterationId: string; terminal: boolean }[]> {
  if (items.length === 0) return [];
  const input = items.map(({ id, finish: f }) => {
    const terminal = f.kind === 'completed' || f.kind === 'failed' || f.kind === 'cancelled' || f.kind === 'discarded';
    return {
      id,
      state: terminal ? f.kind : 'pending',
      output: f.kind === 'completed' ? f.output : terminal ? (f as { output: string }).output : null,
      is_error: terminal && f.kind !== 'completed',
      error: 'error' in f ? f.error : null,
      terminal,
      delay_ms: f.kind === 'retry' || f.kind === 'snooze' ? f.delayMs : 0,
      uncount: f.kind === 'snooze' || f.kind === 'handback',
      snooze: f.kind === 'snooze',
    };
  });
  const { rows } = await db.query<{ id: string; run_id: string; iteration_id: string; terminal: boolean }>(
    `WITH x AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, state text, output jsonb, is_error boolean, error text,
         terminal boolean, delay_ms double precision, uncount boolean, snooze boolean)
     ), f AS (
       UPDATE ${t.tool_executions} te SET state = x.state, output = x.output, is_error = x.is_error, error_message = x.error,
         last_error = coalesce(x.error, te.last_error),
         completed_at = CASE WHEN x.terminal THEN now() END,
         lease_owner = NULL, lease_expires_at = NULL,
         scheduled_at = CASE WHEN x.terminal THEN te.scheduled_at ELSE now() + x.delay_ms * interval '1 millisecond' END,
         attempt = te.attempt - CASE WHEN x.uncount THEN 1 ELSE 0 END,
         snooze_count = te.snooze_count + CASE WHEN x.snooze THEN 1 ELSE 0 END
       FROM x
       WHERE te.id = x.id AND te.id = ANY(ARRAY(SELECT id FROM x)) AND te.state = 'running' AND te.lease_owner = $1
       RETURNING te.id, te.run_id, te.iteration_id, te.tool_name, x.terminal, x.delay_ms
     ), woken AS (
       SELECT count(pg_notify($3, tool_name)) AS n FROM (SELECT DISTINCT tool_name FROM f WHERE NOT terminal AND delay_ms = 0) y
     )
     SELECT f.id, f.run_id, f.iteration_id, f.terminal, (SELECT n FROM woken) AS woken FROM f`,
    [owner, json(input), channel(t.schema, 'tool')],
  );
  return rows.map((r) => ({ id: r.id, runId: r.run_id, iterationId: r.iteration_id, terminal: r.terminal }));
}

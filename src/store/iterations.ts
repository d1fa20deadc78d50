import type { Queryable } from '../db/driver.js';
import type { Iteration, IterationState, RunMode } from '../types.js';
import { channel, type Tables } from './tables.js';
import { date, dateOrNull, num } from './convert.js';
import { contextColumns, toRequestContext, type ContextRow, type RequestContext } from './context.js';

interface IterationRow {
  id: string;
  run_id: string;
  iteration_number: unknown;
  mode: RunMode;
  state: IterationState;
  trigger_type: Iteration['triggerType'];
  attempt: unknown;
  batch_id: string | null;
  anthropic_batch_id: string | null;
  stop_reason: string | null;
  has_tool_use: boolean;
  tool_execution_count: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  cache_creation_input_tokens: unknown;
  cache_read_input_tokens: unknown;
  error_type: string | null;
  error_message: string | null;
  created_at: unknown;
  started_at: unknown;
  completed_at: unknown;
}

function toIteration(r: IterationRow): Iteration {
  return {
    id: r.id,
    runId: r.run_id,
    index: num(r.iteration_number),
    mode: r.mode,
    state: r.state,
    triggerType: r.trigger_type,
    attempt: num(r.attempt),
    batchId: r.batch_id,
    anthropicBatchId: r.anthropic_batch_id,
    stopReason: r.stop_reason,
    hasToolUse: r.has_tool_use,
    toolExecutionCount: num(r.tool_execution_count),
    usage: {
      inputTokens: num(r.input_tokens),
      outputTokens: num(r.output_tokens),
      cacheCreationInputTokens: num(r.cache_creation_input_tokens),
      cacheReadInputTokens: num(r.cache_read_input_tokens),
    },
    errorType: r.error_type,
    errorMessage: r.error_message,
    createdAt: date(r.created_at),
    startedAt: dateOrNull(r.started_at),
    completedAt: dateOrNull(r.completed_at),
  };
}

export async function listRunIterations(db: Queryable, t: Tables, runId: string): Promise<Iteration[]> {
  const { rows } = await db.query<IterationRow>(
    `SELECT i.id, i.run_id, i.iteration_number, i.mode, i.state, i.trigger_type, i.attempt, i.batch_id, b.anthropic_batch_id,
            i.stop_reason, i.has_tool_use, i.tool_execution_count, i.input_tokens, i.output_tokens,
            i.cache_creation_input_tokens, i.cache_read_input_tokens, i.error_type, i.error_message,
            i.created_at, i.started_at, i.completed_at
     FROM ${t.iterations} i LEFT JOIN ${t.batches} b ON b.id = i.batch_id
     WHERE i.run_id = $1 ORDER BY i.iteration_number`,
    [runId],
  );
  return rows.map(toIteration);
}

/**
 * Fails an iteration and its run in one guarded statement; a no-op when the iteration already left
 * `fromStates` (somebody else got there first). Returns whether it applied.
 */
export async function failIteration(
  db: Queryable,
  t: Tables,
  a: { iterationId: string; fromStates: IterationState[]; errorType: string; message: string },
): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH it AS (
       UPDATE ${t.iterations} SET state = 'failed', completed_at = now(), error_type = $2, error_message = $3,
         lease_owner = NULL, lease_expires_at = NULL
       WHERE id = $1 AND state = ANY($4::text[])
       RETURNING run_id
     ), r AS (
       UPDATE ${t.runs} SET state = 'failed', error_type = $2, error_message = $3, finalized_at = now(), updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.id = ANY(ARRAY(SELECT run_id FROM it)) AND ${t.runs}.finalized_at IS NULL
       RETURNING ${t.runs}.id, ${t.runs}.parent_tool_execution_id
     )
     SELECT id, pg_notify($5, id || ':failed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END) FROM r`,
    [a.iterationId, a.errorType, a.message, a.fromStates, channel(t.schema, 'run')],
  );
  return rows.length > 0;
}

/**
 * Puts iterations back in the queue after a transient failure (API error, expired or canceled batch
 * request, lost submitter): state pending, attempt counted when `countAttempt`, scheduled after `delayMs`.
 */
export async function requeueIterations(
  db: Queryable,
  t: Tables,
  a: {
    iterationIds: string[];
    fromStates: IterationState[];
    batchId: string | null;
    delayMs: number;
    countAttempt: boolean;
    reason: string;
    leaseOwner?: string | null;
  },
): Promise<number> {
  if (a.iterationIds.length === 0) return 0;
  const { rows } = await db.query<{ n: unknown }>(
    `WITH it AS (
       UPDATE ${t.iterations} SET state = 'pending', batch_id = NULL, lease_owner = NULL, lease_expires_at = NULL,
         attempt = attempt + CASE WHEN $4 THEN 1 ELSE 0 END,
         scheduled_at = now() + $5 * interval '1 millisecond', error_message = $6
       WHERE id = ANY($1::uuid[]) AND state = ANY($2::text[]) AND ($3::uuid IS NULL OR batch_id = $3)
         AND ($8::text IS NULL OR lease_owner = $8)
       RETURNING run_id, mode
     ), r AS (
       UPDATE ${t.runs} SET state = 'pending', updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.id = ANY(ARRAY(SELECT run_id FROM it)) AND ${t.runs}.finalized_at IS NULL
       RETURNING it.mode
     )
     SELECT count(*) AS n, (SELECT pg_notify($7, mode) FROM r LIMIT 1) AS notified FROM r`,
    [a.iterationIds, a.fromStates, a.batchId, a.countAttempt, a.delayMs, a.reason, channel(t.schema, 'iteration'), a.leaseOwner ?? null],
  );
  return num(rows[0]?.n);
}

export interface ClaimedStream {
  iterationId: string;
  runId: string;
  attempt: number;
}

/** A claimed streaming iteration with everything its request needs. */
export interface ClaimedStreamContext extends ClaimedStream {
  context: RequestContext;
}

/**
 * The claim size used for a wish of `n`: the largest power of two not above it, written into the statement as a
 * literal. With every estimate independent of the parameters, PostgreSQL keeps one generic plan for the prepared
 * statement instead of planning this large statement again on every call (a `LIMIT $n` makes the generic plan look
 * costlier, so it would never be chosen); powers of two keep the distinct texts few.
 */
export function claimSize(n: number): number {
  return n < 1 ? 0 : 2 ** Math.floor(Math.log2(Math.min(n, 65_536)));
}

/**
 * Fast mode's claim: leases up to `limit` (rounded down by {@link claimSize}: see `limit` in the result) pending
 * streaming iterations for this instance (their runs move to `streaming`) and loads their request contexts, in one
 * statement. Also says when the next scheduled (retrying) iteration is due, so an idle streamer knows how long it
 * may sleep. The lease commits with the statement, before any model call.
 */
export async function claimStreamingWork(
  db: Queryable,
  t: Tables,
  a: { instanceId: string; limit: number; leaseMs: number },
): Promise<{ claimed: ClaimedStreamContext[]; limit: number; nextDueInMs: number | null }> {
  const limit = claimSize(a.limit);
  if (limit === 0) return { claimed: [], limit, nextDueInMs: null };
  const { rows } = await db.query<ContextRow & { attempt: unknown; next_due_ms: unknown }>(
    `WITH pick AS (
       SELECT id FROM ${t.iterations}
       WHERE state = 'pending' AND mode = 'streaming' AND scheduled_at <= now()
       ORDER BY scheduled_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
     ), it AS (
       UPDATE ${t.iterations} i SET state = 'streaming', lease_owner = $1, lease_expires_at = now() + $2 * interval '1 millisecond',
         started_at = coalesce(i.started_at, now())
       FROM pick WHERE i.id = pick.id AND i.id = ANY(ARRAY(SELECT id FROM pick))
       RETURNING i.id, i.run_id, i.attempt, i.iteration_number
     ), ru AS (
       -- id = ANY(ARRAY(...)): primary-key lookups of the claimed runs, never a scan of every pending run
       UPDATE ${t.runs} SET state = 'streaming', started_at = coalesce(started_at, now()), updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.id = ANY(ARRAY(SELECT run_id FROM it)) AND ${t.runs}.state = 'pending'
       RETURNING ${t.runs}.id
     ), woken AS (
       SELECT count(pg_notify($3, json_build_object('r', id)::text)) AS n FROM ru
     )
     SELECT c.*, (SELECT n FROM woken) AS woken,
            (SELECT extract(epoch FROM (min(scheduled_at) - now())) * 1000 FROM ${t.iterations}
             WHERE state = 'pending' AND mode = 'streaming' AND scheduled_at > now()) AS next_due_ms
     FROM (SELECT 1) one
     LEFT JOIN (
       SELECT it.attempt, ${contextColumns(t, 'it', 'r', 'a')}
       FROM it JOIN ${t.runs} r ON r.id = it.run_id JOIN ${t.agents} a ON a.id = r.agent_id
     ) c ON true`,
    [a.instanceId, a.leaseMs, channel(t.schema, 'event')],
  );
  const due = rows[0]?.next_due_ms;
  return {
    limit,
    claimed: rows
      .filter((r) => r.iteration_id !== null)
      .map((r) => ({ iterationId: r.iteration_id, runId: r.run_id, attempt: num(r.attempt), context: toRequestContext(r) })),
    nextDueInMs: due === null || due === undefined ? null : Math.max(0, num(due)),
  };
}

import type { Queryable } from '../db/driver.js';
import { channel, type Tables } from './tables.js';
import { leaderFence, type LeaderTerm } from './leader.js';
import { insertMessageCte } from './messages.js';
import { TOOL_RESULT_BLOCKS } from './transitions.js';
import { num } from './convert.js';

/**
 * SQL of the maintenance the leader runs, and of the hand-back a stopping instance does. Every leader write
 * is fenced ({@link leaderFence}, placeholders $1 = leader id, $2 = token) and guarded by the row's state
 * and an expired lease, so it is a no-op for a deposed leader and for work whose owner is still alive.
 */

/** Tool calls whose worker stopped renewing the lease, sent back to the queue (the attempt it used counts). */
export async function requeueExpiredToolExecutions(db: Queryable, t: Tables, fence: LeaderTerm): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>(
    `WITH r AS (
       UPDATE ${t.tool_executions} SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(),
         last_error = 'the worker running this call stopped renewing its lease (attempt ' || attempt || ')'
       WHERE state = 'running' AND lease_expires_at < now() AND attempt < max_attempts AND ${leaderFence(t, '$1', '$2')}
       RETURNING tool_name
     )
     SELECT count(*) AS n, (SELECT count(*) FROM (SELECT pg_notify($3, tool_name) FROM (SELECT DISTINCT tool_name FROM r) d) x) AS woken FROM r`,
    [fence.leaderId, fence.token, channel(t.schema, 'tool')],
  );
  return num(rows[0]?.n);
}

/** Expired tool calls that used their last attempt (at most `limit`): each becomes an error result. */
export async function exhaustedToolExecutions(
  db: Queryable,
  t: Tables,
  limit: number,
): Promise<{ id: string; runId: string; iterationId: string }[]> {
  const { rows } = await db.query<{ id: string; run_id: string; iteration_id: string }>(
    `SELECT id, run_id, iteration_id FROM ${t.tool_executions}
     WHERE state = 'running' AND lease_expires_at < now() AND attempt >= max_attempts ORDER BY lease_expires_at LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, runId: r.run_id, iterationId: r.iteration_id }));
}

/**
 * Fails one expired tool call that has no attempt left, with an error result the model will read. The caller
 * holds the run lock (lockRun) and then calls continueAfterTools. False when the guard did not match.
 */
export async function failExhaustedToolExecution(db: Queryable, t: Tables, fence: LeaderTerm, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${t.tool_executions} SET state = 'failed', is_error = true, completed_at = now(), lease_owner = NULL,
       lease_expires_at = NULL, error_message = 'the worker running this call stopped before finishing, ' || attempt || ' time(s)',
       output = to_jsonb('Error: the tool call did not finish: the worker running it stopped (' || attempt || ' attempts).'::text)
     WHERE id = $3 AND state = 'running' AND lease_expires_at < now() AND ${leaderFence(t, '$1', '$2')}`,
    [fence.leaderId, fence.token, id],
  );
  return rowCount > 0;
}

/** How a rescue gives up on a model call its workers keep losing (a poison request, a crash loop). */
const GAVE_UP = (what: string) =>
  `'gave up after ' || attempt + 1 || ' attempts: the instance ${what} this model call stopped or lost it every time'`;

/**
 * Batch submissions whose submitter died or stalled past its lease before recording the API's answer: the
 * intent is abandoned and its iterations go back to the queue, the attempt counted. A batch the API may have
 * created in that window is never applied, because results only apply to the batch an iteration currently
 * belongs to. An iteration past `maxRequeues` attempts fails its run (`worker_lost`) instead of looping.
 */
export async function rescueExpiredSubmissions(db: Queryable, t: Tables, fence: LeaderTerm, maxRequeues: number): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>(
    `WITH b AS (
       UPDATE ${t.batches} SET state = 'abandoned', lease_owner = NULL, lease_expires_at = NULL,
         error_message = 'the submitting instance lost its lease before recording the API answer'
       WHERE state = 'submitting' AND lease_expires_at < now() AND ${leaderFence(t, '$1', '$2')}
       RETURNING id
     ), it AS (
       UPDATE ${t.iterations} i SET state = CASE WHEN i.attempt < $5 THEN 'pending' ELSE 'failed' END,
         batch_id = CASE WHEN i.attempt < $5 THEN NULL ELSE i.batch_id END, scheduled_at = now(), attempt = i.attempt + 1,
         completed_at = CASE WHEN i.attempt < $5 THEN NULL ELSE now() END,
         error_type = CASE WHEN i.attempt < $5 THEN i.error_type ELSE 'worker_lost' END,
         error_message = CASE WHEN i.attempt < $5 THEN 'its submitter stopped before recording the batch' ELSE ${GAVE_UP('submitting')} END
       FROM b WHERE i.batch_id = b.id AND i.state = 'submitting'
       RETURNING i.run_id, i.state, i.error_message
     ), ${runsAfterRescue(t, 'batch_submitting')}
     SELECT (SELECT count(*) FROM it) AS n,
            (SELECT pg_notify($3, 'batch') FROM r LIMIT 1) AS notified,
            (SELECT count(pg_notify($4, id || ':failed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END)) FROM rf) AS failed`,
    [fence.leaderId, fence.token, channel(t.schema, 'iteration'), channel(t.schema, 'run'), maxRequeues],
  );
  return num(rows[0]?.n);
}

/**
 * Streaming model calls whose worker stopped renewing the lease go back to pending to be called again (the
 * attempt counts; past `maxRequeues` the run fails with `worker_lost`). A response the old worker still
 * delivers is dropped: applying it requires its lease.
 */
export async function rescueExpiredStreams(db: Queryable, t: Tables, fence: LeaderTerm, maxRequeues: number): Promise<number> {
  const { rows } = await db.query<{ n: unknown }>(
    `WITH it AS (
       UPDATE ${t.iterations} i SET state = CASE WHEN i.attempt < $5 THEN 'pending' ELSE 'failed' END,
         lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(), attempt = i.attempt + 1,
         completed_at = CASE WHEN i.attempt < $5 THEN NULL ELSE now() END,
         error_type = CASE WHEN i.attempt < $5 THEN i.error_type ELSE 'worker_lost' END,
         error_message = CASE WHEN i.attempt < $5 THEN 'the worker streaming this call stopped renewing its lease' ELSE ${GAVE_UP('streaming')} END
       WHERE i.state = 'streaming' AND i.lease_expires_at < now() AND ${leaderFence(t, '$1', '$2')}
       RETURNING i.run_id, i.state, i.error_message
     ), ${runsAfterRescue(t, 'streaming')}
     SELECT (SELECT count(*) FROM it) AS n,
            (SELECT pg_notify($3, 'streaming') FROM r LIMIT 1) AS notified,
            (SELECT count(pg_notify($4, id || ':failed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END)) FROM rf) AS failed`,
    [fence.leaderId, fence.token, channel(t.schema, 'iteration'), channel(t.schema, 'run'), maxRequeues],
  );
  return num(rows[0]?.n);
}

/** CTEs `r` (runs of requeued iterations back to pending) and `rf` (runs of given-up iterations failed), after `it`. */
function runsAfterRescue(t: Tables, runState: string): string {
  return `r AS (
       UPDATE ${t.runs} SET state = 'pending', updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND it.state = 'pending' AND ${t.runs}.state = '${runState}'
       RETURNING ${t.runs}.id
     ), rf AS (
       UPDATE ${t.runs} SET state = 'failed', error_type = 'worker_lost', error_message = it.error_message, finalized_at = now(), updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND it.state = 'failed' AND ${t.runs}.finalized_at IS NULL
       RETURNING ${t.runs}.id, ${t.runs}.parent_tool_execution_id
     )`;
}

/**
 * Deletes instances without a heartbeat for `ttlMs` (their tool registrations go with them). Nothing else is
 * touched: their claims expire on their own and the rescuer returns them, so no run ever fails here.
 */
export async function deleteDeadInstances(db: Queryable, t: Tables, fence: LeaderTerm, ttlMs: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `DELETE FROM ${t.instances} WHERE last_heartbeat_at < now() - $3 * interval '1 millisecond' AND ${leaderFence(t, '$1', '$2')}
     RETURNING id`,
    [fence.leaderId, fence.token, ttlMs],
  );
  return rows.map((r) => r.id);
}

/** A live instance (heartbeat within `$3` ms) has registered `te.tool_name`. */
function toolServed(t: Tables): string {
  return `EXISTS (SELECT 1 FROM ${t.instance_tools} it JOIN ${t.instances} i ON i.id = it.instance_id
                  WHERE it.tool_name = te.tool_name AND i.last_heartbeat_at > now() - $3 * interval '1 millisecond')`;
}

/**
 * Stamps pending tool calls that no live instance can claim with the moment this was first seen, and
 * unstamps those a live instance offers again (or that left pending). Returns how many are stamped now.
 */
export async function markUnclaimableToolExecutions(db: Queryable, t: Tables, fence: LeaderTerm, instanceTtlMs: number): Promise<number> {
  await db.query(
    `UPDATE ${t.tool_executions} te SET unclaimable_since = NULL
     WHERE unclaimable_since IS NOT NULL AND (state <> 'pending' OR ${toolServed(t)}) AND ${leaderFence(t, '$1', '$2')}`,
    [fence.leaderId, fence.token, instanceTtlMs],
  );
  const { rows } = await db.query<{ n: unknown }>(
    `WITH s AS (
       UPDATE ${t.tool_executions} te SET unclaimable_since = now()
       WHERE state = 'pending' AND NOT is_agent_tool AND unclaimable_since IS NULL AND NOT ${toolServed(t)}
         AND ${leaderFence(t, '$1', '$2')}
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM s) + (SELECT count(*) FROM ${t.tool_executions}
       WHERE unclaimable_since IS NOT NULL AND state = 'pending') AS n`,
    [fence.leaderId, fence.token, instanceTtlMs],
  );
  return num(rows[0]?.n);
}

/** Iterations with a tool call that has been unclaimable for longer than `timeoutMs`, with the tools missing. */
export async function overdueUnclaimable(
  db: Queryable,
  t: Tables,
  timeoutMs: number,
  limit: number,
): Promise<{ runId: string; iterationId: string; tools: string[] }[]> {
  const { rows } = await db.query<{ run_id: string; iteration_id: string; tools: string[] }>(
    `SELECT run_id, iteration_id, array_agg(DISTINCT tool_name ORDER BY tool_name) AS tools FROM ${t.tool_executions}
     WHERE state = 'pending' AND unclaimable_since < now() - $1 * interval '1 millisecond'
     GROUP BY run_id, iteration_id LIMIT $2`,
    [timeoutMs, limit],
  );
  return rows.map((r) => ({ runId: r.run_id, iterationId: r.iteration_id, tools: r.tools }));
}

/**
 * Gives up on an iteration's unclaimable tool calls: each becomes an error result naming its missing tool.
 * Runs under the run lock; the caller then fails the run (failRun skips the iteration's other unfinished calls)
 * and writes the tool_result message ({@link writeToolResultsMessage}). False when nothing matched any more
 * (an instance registered the tool meanwhile, or the run moved on).
 */
export async function failUnclaimableToolExecutions(
  db: Queryable,
  t: Tables,
  fence: LeaderTerm,
  a: { iterationId: string; timeoutMs: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${t.tool_executions} SET state = 'failed', is_error = true, completed_at = now(),
       error_message = 'no live agentpg instance has registered tool "' || tool_name || '"',
       output = to_jsonb(('Error: tool "' || tool_name || '" is unavailable: no running worker has registered it.')::text)
     WHERE iteration_id = $3 AND state = 'pending' AND unclaimable_since < now() - $4 * interval '1 millisecond'
       AND ${leaderFence(t, '$1', '$2')}`,
    [fence.leaderId, fence.token, a.iterationId, a.timeoutMs],
  );
  return rowCount > 0;
}

/**
 * Writes the one user message answering every tool_use of a finished iteration whose run ended early (every
 * execution is terminal), so even a failed run's history pairs each tool_use with its tool_result. A no-op
 * when such a message exists or a call is still unfinished.
 */
export async function writeToolResultsMessage(db: Queryable, t: Tables, runId: string, iterationId: string): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH ok AS (
       SELECT r.id, r.session_id FROM ${t.runs} r
       WHERE r.id = $1
         AND EXISTS (SELECT 1 FROM ${t.tool_executions} WHERE iteration_id = $2)
         AND NOT EXISTS (SELECT 1 FROM ${t.tool_executions} WHERE iteration_id = $2 AND completed_at IS NULL)
         -- a join from the run's own messages: as nested EXISTS the planner hashed every tool_result block in the table
         AND NOT EXISTS (SELECT 1 FROM ${t.messages} m JOIN ${t.content_blocks} b ON b.message_id = m.id
                         WHERE m.run_id = $1 AND m.iteration_id = $2 AND m.role = 'user' AND b.type = 'tool_result')
     ), blocks AS (${TOOL_RESULT_BLOCKS(t, '$2::uuid')}),
     ${insertMessageCte(t, {
       gate: 'ok',
       session: 'ok.session_id',
       run: 'ok.id',
       iteration: '$2::uuid',
       role: `'user'`,
       usage: 'NULL::jsonb',
       metadata: `'{}'::jsonb`,
       content: '(SELECT content FROM blocks)',
     })}
     SELECT id FROM m`,
    [runId, iterationId],
  );
  return rows.length > 0;
}

/**
 * A stopping instance returns every claim it still holds, at once and without using an attempt: running tool
 * calls go back to pending, batch poll leases are released (due now, so another instance polls at once),
 * submission intents are abandoned with their iterations requeued, streaming calls go back to pending.
 * Guarded by `lease_owner`, so anything already taken over is left alone. Returns counts per kind.
 */
export async function handBackInstanceWork(
  db: Queryable,
  t: Tables,
  owner: string,
): Promise<{ tools: number; polls: number; submissions: number; streams: number }> {
  const { rows } = await db.query<{ tools: unknown; polls: unknown; submissions: unknown; streams: unknown }>(
    `WITH te AS (
       UPDATE ${t.tool_executions} SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(),
         attempt = greatest(attempt - 1, 0), last_error = 'handed back: the instance running it stopped'
       WHERE state = 'running' AND lease_owner = $1
       RETURNING tool_name
     ), polls AS (
       UPDATE ${t.batches} SET lease_owner = NULL, lease_expires_at = NULL, next_poll_at = now()
       WHERE state = 'in_progress' AND lease_owner = $1
       RETURNING id
     ), sb AS (
       UPDATE ${t.batches} SET state = 'abandoned', lease_owner = NULL, lease_expires_at = NULL,
         error_message = 'handed back: the submitting instance stopped before calling the API'
       WHERE state = 'submitting' AND lease_owner = $1
       RETURNING id
     ), sit AS (
       UPDATE ${t.iterations} SET state = 'pending', batch_id = NULL, scheduled_at = now()
       FROM sb WHERE ${t.iterations}.batch_id = sb.id AND ${t.iterations}.state = 'submitting'
       RETURNING run_id
     ), sr AS (
       UPDATE ${t.runs} SET state = 'pending', updated_at = now()
       FROM sit WHERE ${t.runs}.id = sit.run_id AND ${t.runs}.state = 'batch_submitting'
       RETURNING ${t.runs}.id
     ), st AS (
       UPDATE ${t.iterations} SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(),
         error_message = 'handed back: the instance streaming it stopped'
       WHERE state = 'streaming' AND lease_owner = $1
       RETURNING run_id
     ), str AS (
       UPDATE ${t.runs} SET state = 'pending', updated_at = now()
       FROM st WHERE ${t.runs}.id = st.run_id AND ${t.runs}.state = 'streaming'
       RETURNING ${t.runs}.id
     )
     SELECT (SELECT count(*) FROM te) AS tools, (SELECT count(*) FROM polls) AS polls, (SELECT count(*) FROM sit) AS submissions,
            (SELECT count(*) FROM st) AS streams,
            (SELECT count(*) FROM (SELECT pg_notify($2, tool_name) FROM (SELECT DISTINCT tool_name FROM te) d) x) AS woken_tools,
            (SELECT count(*) FROM (SELECT pg_notify($3, 'batch') FROM sr LIMIT 1) x) AS woken_batch,
            (SELECT count(*) FROM (SELECT pg_notify($3, 'streaming') FROM str LIMIT 1) x) AS woken_streams`,
    [owner, channel(t.schema, 'tool'), channel(t.schema, 'iteration')],
  );
  const r = rows[0]!;
  return { tools: num(r.tools), polls: num(r.polls), submissions: num(r.submissions), streams: num(r.streams) };
}

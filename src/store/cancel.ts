import type { Queryable } from '../db/driver.js';
import { channel, type Tables } from './tables.js';
import { insertMessageCte } from './messages.js';
import { TOOL_RESULT_BLOCKS } from './transitions.js';

export interface CancelResult {
  /** Runs this call moved to cancelled (the run and its unfinished descendants); empty when already finished. */
  cancelled: string[];
  /** Message Batches none of whose requests is needed any more: cancel them at the API. */
  anthropicBatchIds: string[];
}

/**
 * Cancels a run and every unfinished run below it, in one transaction: runs, iterations and tool calls move
 * to cancelled; a run waiting on tools gets its tool_result message (every call answered as cancelled), so
 * the conversation stays valid. The rows are the signal: a worker that misses the notification finds its
 * guarded transition refused. Idempotent: a finished run is left as it is.
 */
export async function cancelRunTree(tx: Queryable, t: Tables, runId: string, reason: string): Promise<CancelResult> {
  const { rows } = await tx.query<{ cancelled: string[] | null; tool_runs: string[] | null; batches: string[] | null }>(
    `WITH RECURSIVE tree(id) AS (
       SELECT id FROM ${t.runs} WHERE id = $1
       UNION ALL SELECT r.id FROM ${t.runs} r JOIN tree ON r.parent_run_id = tree.id
     ), locked AS (
       SELECT id, state FROM ${t.runs} WHERE id IN (SELECT id FROM tree) AND finalized_at IS NULL ORDER BY id FOR UPDATE
     ), rs AS (
       UPDATE ${t.runs} r SET state = 'cancelled', error_message = $2, finalized_at = now(), updated_at = now()
       FROM locked WHERE r.id = locked.id
       RETURNING r.id, locked.state AS was, r.parent_tool_execution_id
     ), its AS (
       UPDATE ${t.iterations} SET state = 'cancelled', completed_at = now(), lease_owner = NULL, lease_expires_at = NULL,
         error_type = 'cancelled', error_message = $2
       WHERE run_id IN (SELECT id FROM rs) AND completed_at IS NULL
       RETURNING batch_id
     ), tes AS (
       UPDATE ${t.tool_executions} SET state = 'cancelled', completed_at = now(), is_error = true,
         output = to_jsonb('Error: not completed: the run was cancelled.'::text), error_message = $2,
         lease_owner = NULL, lease_expires_at = NULL
       WHERE run_id IN (SELECT id FROM rs) AND completed_at IS NULL
     ), woken AS (
       SELECT count(pg_notify($3, id || ':cancelled' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END)) AS n FROM rs
     )
     SELECT (SELECT array_agg(id) FROM rs) AS cancelled,
            (SELECT array_agg(id) FROM rs WHERE was = 'pending_tools') AS tool_runs,
            (SELECT array_agg(DISTINCT batch_id) FROM its WHERE batch_id IS NOT NULL) AS batches,
            (SELECT n FROM woken) AS woken`,
    [runId, reason, channel(t.schema, 'run')],
  );
  const r = rows[0]!;
  for (const id of r.tool_runs ?? []) await writeCancelledToolResults(tx, t, id);
  let anthropicBatchIds: string[] = [];
  if (r.batches && r.batches.length > 0) {
    const { rows: idle } = await tx.query<{ anthropic_batch_id: string }>(
      `SELECT b.anthropic_batch_id FROM ${t.batches} b
       WHERE b.id = ANY($1::uuid[]) AND b.state = 'in_progress' AND b.anthropic_batch_id IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM ${t.iterations} i WHERE i.batch_id = b.id AND i.state = 'in_batch')`,
      [r.batches],
    );
    anthropicBatchIds = idle.map((b) => b.anthropic_batch_id);
  }
  return { cancelled: r.cancelled ?? [], anthropicBatchIds };
}

/** The tool_result message of a cancelled run's last iteration: every tool_use answered. */
async function writeCancelledToolResults(tx: Queryable, t: Tables, runId: string): Promise<void> {
  await tx.query(
    `WITH ok AS (
       SELECT r.id, r.session_id, r.current_iteration_id AS iteration_id FROM ${t.runs} r
       WHERE r.id = $1
         AND NOT EXISTS (SELECT 1 FROM ${t.messages} m JOIN ${t.content_blocks} cb ON cb.message_id = m.id
                         WHERE m.iteration_id = r.current_iteration_id AND m.role = 'user' AND cb.type = 'tool_result')
         AND EXISTS (SELECT 1 FROM ${t.tool_executions} te WHERE te.iteration_id = r.current_iteration_id)
     ), blocks AS (${TOOL_RESULT_BLOCKS(t, '(SELECT iteration_id FROM ok)')}),
     ${insertMessageCte(t, {
       gate: 'ok',
       session: 'ok.session_id',
       run: 'ok.id',
       iteration: 'ok.iteration_id',
       role: `'user'`,
       usage: 'NULL::jsonb',
       metadata: `'{}'::jsonb`,
       content: '(SELECT content FROM blocks)',
     })}
     SELECT 1`,
    [runId],
  );
}

import type { Queryable } from '../db/driver.js';
import { channel, type Tables } from './tables.js';
import { writeToolResultsMessage } from './rescue.js';

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
  const { rows } = await tx.query<{
    cancelled: string[] | null;
    tool_runs: { run: string; iteration: string }[] | null;
    batches: string[] | null;
  }>(
    `WITH RECURSIVE tree(id) AS (
       SELECT id FROM ${t.runs} WHERE id = $1
       UNION ALL SELECT r.id FROM ${t.runs} r JOIN tree ON r.parent_run_id = tree.id
     ), locked AS (
       SELECT id, state FROM ${t.runs} WHERE id IN (SELECT id FROM tree) AND finalized_at IS NULL ORDER BY id FOR UPDATE
     ), rs AS (
       UPDATE ${t.runs} r SET state = 'cancelled', error_message = $2, finalized_at = now(), updated_at = now()
       FROM locked WHERE r.id = locked.id
       RETURNING r.id, locked.state AS was, r.parent_tool_execution_id, r.current_iteration_id
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
            (SELECT json_agg(json_build_object('run', id, 'iteration', current_iteration_id)) FROM rs WHERE was = 'pending_tools') AS tool_runs,
            (SELECT array_agg(DISTINCT batch_id) FROM its WHERE batch_id IS NOT NULL) AS batches,
            (SELECT n FROM woken) AS woken`,
    [runId, reason, channel(t.schema, 'run')],
  );
  const r = rows[0]!;
  // Every tool call of those runs is terminal now, so each gets its tool_result message like a dead instance's.
  for (const w of r.tool_runs ?? []) await writeToolResultsMessage(tx, t, w.run, w.iteration);
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

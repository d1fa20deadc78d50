import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/driver.js';
import type { JsonObject, RunMode, RunState } from '../types.js';
import type { Tables } from './tables.js';
import { num } from './convert.js';
import { insertRun } from './runs.js';
import { continueAfterTools, lockRun } from './transitions.js';

/** Agent-tool calls waiting for their child run to be created. */
export async function pendingDelegations(db: Queryable, t: Tables, limit: number): Promise<{ id: string; runId: string }[]> {
  const { rows } = await db.query<{ id: string; run_id: string }>(
    `SELECT id, run_id FROM ${t.tool_executions}
     WHERE state = 'pending' AND is_agent_tool AND scheduled_at <= now() ORDER BY scheduled_at LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, runId: r.run_id }));
}

export type DelegationStart =
  | { kind: 'started'; childRunId: string; mode: RunMode }
  | { kind: 'refused'; reason: string; outcome: Awaited<ReturnType<typeof continueAfterTools>> }
  | { kind: 'gone' };

/**
 * Starts the child run of an agent-tool call, under the parent run's lock. The delegate was resolved from
 * the parent agent's own agentIds when the call was recorded (never by a global name lookup). Refuses,
 * with an error result the model can act on, a missing task, a call past `maxDepth`, or a cycle (the
 * delegate already works on this chain of runs).
 */
export async function startDelegation(
  tx: Queryable,
  t: Tables,
  a: { executionId: string; runId: string; maxDepth: number; maxIterations: number; instanceId: string },
): Promise<DelegationStart> {
  await lockRun(tx, t, a.runId);
  const { rows } = await tx.query<{
    iteration_id: string;
    agent_id: string;
    tool_name: string;
    tool_input: { task?: unknown } | null;
    session_id: string;
    mode: RunMode;
    depth: unknown;
    variables: JsonObject;
    chain: string[];
  }>(
    `WITH RECURSIVE chain(id, agent_id, parent) AS (
       SELECT id, agent_id, parent_run_id FROM ${t.runs} WHERE id = $2
       UNION ALL SELECT r.id, r.agent_id, r.parent_run_id FROM ${t.runs} r JOIN chain c ON r.id = c.parent
     )
     SELECT te.iteration_id, te.agent_id, te.tool_name, te.tool_input, p.session_id, p.mode, p.depth, p.variables,
            (SELECT array_agg(agent_id) FROM chain) AS chain
     FROM ${t.tool_executions} te JOIN ${t.runs} p ON p.id = te.run_id
     WHERE te.id = $1 AND te.state = 'pending' AND p.finalized_at IS NULL`,
    [a.executionId, a.runId],
  );
  const e = rows[0];
  if (!e) return { kind: 'gone' };
  const task = e.tool_input?.task;
  const depth = num(e.depth) + 1;
  let reason: string | null = null;
  if (typeof task !== 'string' || task.trim() === '') {
    reason = `Error: call ${e.tool_name} with an input like {"task": "what you want it to do"}.`;
  } else if (depth > a.maxDepth) {
    reason = `Error: ${e.tool_name} was not called: delegation is limited to ${a.maxDepth} levels. Do this part yourself.`;
  } else if (e.chain.includes(e.agent_id)) {
    reason = `Error: ${e.tool_name} was not called: it is already working on this chain of tasks (delegating to it would loop).`;
  }
  if (reason) {
    await tx.query(
      `UPDATE ${t.tool_executions} SET state = 'failed', is_error = true, output = to_jsonb($2::text), error_message = $2,
         completed_at = now(), started_at = coalesce(started_at, now())
       WHERE id = $1 AND state = 'pending'`,
      [a.executionId, reason],
    );
    return { kind: 'refused', reason, outcome: await continueAfterTools(tx, t, a.runId, e.iteration_id) };
  }
  const childRunId = randomUUID();
  await insertRun(tx, t, {
    id: childRunId,
    iterationId: randomUUID(),
    sessionId: e.session_id,
    agentId: e.agent_id,
    mode: e.mode,
    prompt: [{ type: 'text', text: task as string }],
    variables: e.variables,
    metadata: {},
    maxIterations: a.maxIterations,
    overrideInstructions: null,
    appendInstructions: null,
    idempotencyKey: null,
    instanceId: a.instanceId,
    parentRunId: a.runId,
    parentToolExecutionId: a.executionId,
    depth,
  });
  // The call is held by its child run, not by a process: an infinite lease no rescuer ever takes.
  await tx.query(
    `UPDATE ${t.tool_executions} SET state = 'running', child_run_id = $2::uuid, lease_owner = 'child:' || $2::text,
       lease_expires_at = 'infinity', attempt = attempt + 1, started_at = coalesce(started_at, now())
     WHERE id = $1 AND state = 'pending'`,
    [a.executionId, childRunId],
  );
  return { kind: 'started', childRunId, mode: e.mode };
}

/** Agent-tool calls whose child run has finished but whose result is not recorded yet. */
export async function finishedDelegations(db: Queryable, t: Tables, limit: number): Promise<{ id: string; runId: string }[]> {
  const { rows } = await db.query<{ id: string; run_id: string }>(
    `SELECT te.id, te.run_id FROM ${t.tool_executions} te JOIN ${t.runs} c ON c.id = te.child_run_id
     WHERE te.state = 'running' AND te.is_agent_tool AND c.finalized_at IS NOT NULL LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, runId: r.run_id }));
}

/**
 * Turns a finished child run into its parent's tool result (its answer, or an error result saying why it
 * did not answer) and continues the parent when that was its last open call. Exactly once: guarded by the
 * execution's state under the parent run's lock.
 */
export async function completeDelegation(
  tx: Queryable,
  t: Tables,
  executionId: string,
  parentRunId: string,
): Promise<{ childState: RunState; outcome: Awaited<ReturnType<typeof continueAfterTools>> } | null> {
  await lockRun(tx, t, parentRunId);
  const { rows } = await tx.query<{ iteration_id: string; child_state: RunState }>(
    `WITH c AS (
       SELECT c.id, c.state, c.response_text, c.error_type, c.error_message, a.name AS agent_name
       FROM ${t.tool_executions} te JOIN ${t.runs} c ON c.id = te.child_run_id JOIN ${t.agents} a ON a.id = c.agent_id
       WHERE te.id = $1 AND c.finalized_at IS NOT NULL
     )
     UPDATE ${t.tool_executions} te SET
       state = CASE c.state WHEN 'completed' THEN 'completed' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END,
       is_error = c.state <> 'completed',
       output = to_jsonb(CASE c.state
         WHEN 'completed' THEN coalesce(nullif(c.response_text, ''), '(the agent gave no answer)')
         WHEN 'cancelled' THEN 'Error: the ' || c.agent_name || ' agent''s run was cancelled before it answered.'
         ELSE 'Error: the ' || c.agent_name || ' agent failed: ' || coalesce(c.error_message, c.error_type, 'unknown error') END),
       error_message = CASE WHEN c.state <> 'completed' THEN coalesce(c.error_message, c.state) END,
       completed_at = now(), lease_owner = NULL, lease_expires_at = NULL
     FROM c
     WHERE te.id = $1 AND te.state = 'running'
     RETURNING te.iteration_id, c.state AS child_state`,
    [executionId],
  );
  const r = rows[0];
  if (!r) return null;
  return { childState: r.child_state, outcome: await continueAfterTools(tx, t, parentRunId, r.iteration_id) };
}

/** Total usage of a run and all its descendants (child runs of delegations). */
export async function treeUsage(db: Queryable, t: Tables, runId: string) {
  const { rows } = await db.query<Record<string, unknown>>(
    `WITH RECURSIVE tree(id) AS (SELECT $1::uuid UNION ALL SELECT r.id FROM ${t.runs} r JOIN tree ON r.parent_run_id = tree.id)
     SELECT sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_creation_input_tokens) AS cw, sum(cache_read_input_tokens) AS cr
     FROM ${t.runs} WHERE id IN (SELECT id FROM tree)`,
    [runId],
  );
  const r = rows[0] ?? {};
  return { inputTokens: num(r.i), outputTokens: num(r.o), cacheCreationInputTokens: num(r.cw), cacheReadInputTokens: num(r.cr) };
}


import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/driver.js';
import type { ContentBlockParam, IterationState, RunState, Usage } from '../types.js';
import { channel, type Tables } from './tables.js';
import { num } from './convert.js';
import { json } from '../validation.js';
import type { ToolUse } from './transitions.js';

/** One model response to record, whose outcome is one of the two common ones: the run completes, or calls tools. */
export interface ResponseToRecord {
  iterationId: string;
  /** Guard: the iteration must still be in this batch (batch mode) ... */
  batchId: string | null;
  /** ... or leased by this owner (fast mode). */
  leaseOwner: string | null;
  stopReason: string | null;
  content: readonly ContentBlockParam[];
  usage: Usage;
  outcome: 'complete' | 'tools';
  /** For `tools`: the tool_use blocks, in the model's order. */
  uses: readonly ToolUse[];
  /** NOTIFY payloads (streamed text) to publish on the event channel in the same statement. */
  events?: readonly string[];
}

const ITERATION_STATES: readonly IterationState[] = ['pending', 'submitting', 'in_batch', 'streaming', 'completed', 'failed', 'cancelled'];

/** A state as an SQL literal: the guard is part of the statement text, so its plan does not depend on parameters. */
function stateLiteral(s: IterationState): string {
  if (!ITERATION_STATES.includes(s)) throw new Error(`unknown iteration state ${s}`);
  return `'${s}'`;
}

export interface RecordedOutcome {
  iterationId: string;
  runId: string;
  iteration: number;
  outcome: 'complete' | 'tools';
  runState: RunState;
  /** Tool executions left for a runner (tools outcome). */
  pendingTools: number;
}

/**
 * Records many model responses in one statement, with exactly the effects of `recordResponse` followed by
 * `completeRun` or `createToolExecutions` for each (see transitions.ts): each iteration is guarded (still in one
 * of `fromStates`, in its batch or leased by its owner), its assistant message and blocks are inserted, the usage
 * is added to its run, and the run completes (answer text, notification) or gets its tool executions and moves
 * to `pending_tools` (runners notified). Responses whose guard failed are left out of the result and change
 * nothing but what the single-response path would change too.
 *
 * A `tools` outcome whose calls all ended at once (unknown tool, or over the iteration budget) leaves no
 * pending execution: the caller must then continue the run (lockRun + continueAfterTools) in the same
 * transaction, exactly like applyResponse does.
 */
export async function recordResponses(
  db: Queryable,
  t: Tables,
  a: { fromStates: IterationState[]; items: readonly ResponseToRecord[]; defaultToolAttempts: number },
): Promise<RecordedOutcome[]> {
  if (a.items.length === 0) return [];
  const items = a.items.map((x, ord) => ({
    ord,
    iteration_id: x.iterationId,
    batch_id: x.batchId,
    lease_owner: x.leaseOwner,
    stop_reason: x.stopReason,
    tool_use_count: x.outcome === 'tools' ? x.uses.length : 0,
    input_tokens: x.usage.inputTokens,
    output_tokens: x.usage.outputTokens,
    cache_creation_input_tokens: x.usage.cacheCreationInputTokens,
    cache_read_input_tokens: x.usage.cacheReadInputTokens,
    usage: x.usage,
    content: x.content,
    message_id: randomUUID(),
    outcome: x.outcome,
    // completeRun's answer: the text of this response, after any earlier assistant text since the last user turn.
    text: x.content.map((b) => (b.type === 'text' ? b.text : '')).join(''),
    uses: x.outcome === 'tools' ? x.uses.map((u) => ({ idx: u.index, id: u.id, name: u.name, input: u.input ?? {} })) : [],
  }));
  const events = a.items.flatMap((x) => x.events ?? []);
  const { rows } = await db.query<{ iteration_id: string; run_id: string; iteration_number: unknown; outcome: 'complete' | 'tools'; pending: unknown }>(
    `WITH x AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord int, iteration_id uuid, batch_id uuid, lease_owner text, stop_reason text,
         tool_use_count int, input_tokens bigint, output_tokens bigint, cache_creation_input_tokens bigint, cache_read_input_tokens bigint,
         usage jsonb, content jsonb, message_id uuid, outcome text, text text, uses jsonb)
     ), it AS (
       UPDATE ${t.iterations} i SET state = 'completed', completed_at = now(), stop_reason = x.stop_reason,
         has_tool_use = x.tool_use_count > 0, tool_execution_count = x.tool_use_count, input_tokens = x.input_tokens,
         output_tokens = x.output_tokens, cache_creation_input_tokens = x.cache_creation_input_tokens,
         cache_read_input_tokens = x.cache_read_input_tokens, lease_owner = NULL, lease_expires_at = NULL,
         response_message_id = x.message_id
       FROM x
       -- id = ANY(ARRAY(...)): primary-key lookups of the batch's rows, never a scan of every row in that state
       WHERE i.id = x.iteration_id AND i.id = ANY(ARRAY(SELECT iteration_id FROM x)) AND i.state IN (${a.fromStates.map(stateLiteral).join(', ')})
         AND (x.batch_id IS NULL OR i.batch_id = x.batch_id) AND (x.lease_owner IS NULL OR i.lease_owner = x.lease_owner)
       RETURNING i.run_id, i.iteration_number, x.*
     ), run AS (
       UPDATE ${t.runs} r SET input_tokens = r.input_tokens + it.input_tokens, output_tokens = r.output_tokens + it.output_tokens,
         cache_creation_input_tokens = r.cache_creation_input_tokens + it.cache_creation_input_tokens,
         cache_read_input_tokens = r.cache_read_input_tokens + it.cache_read_input_tokens,
         iteration_count = r.iteration_count + 1, updated_at = now(),
         state = CASE it.outcome WHEN 'complete' THEN 'completed' ELSE 'pending_tools' END,
         tool_iterations = r.tool_iterations + CASE it.outcome WHEN 'tools' THEN 1 ELSE 0 END,
         response_text = CASE it.outcome WHEN 'complete' THEN
             coalesce((SELECT string_agg(cb.text, '' ORDER BY m.seq, cb.block_index)
                       FROM ${t.messages} m JOIN ${t.content_blocks} cb ON cb.message_id = m.id
                       WHERE m.run_id = r.id AND m.role = 'assistant' AND cb.type = 'text'
                         AND m.seq > coalesce((SELECT max(seq) FROM ${t.messages} WHERE run_id = r.id AND role = 'user'), 0)), '') || it.text
           ELSE r.response_text END,
         stop_reason = CASE it.outcome WHEN 'complete' THEN it.stop_reason ELSE r.stop_reason END,
         finalized_at = CASE it.outcome WHEN 'complete' THEN now() ELSE r.finalized_at END
       FROM it WHERE r.id = it.run_id AND r.id = ANY(ARRAY(SELECT run_id FROM it)) AND r.finalized_at IS NULL
       RETURNING r.id, r.session_id, r.agent_id, r.max_iterations, r.parent_tool_execution_id, it.iteration_id, it.iteration_number,
         it.outcome, it.usage, it.content, it.message_id, it.uses, it.ord
     ), m AS (
       INSERT INTO ${t.messages} (id, session_id, run_id, iteration_id, role, usage, metadata)
       SELECT message_id, session_id, id, iteration_id, 'assistant', usage, '{}'::jsonb FROM run ORDER BY ord
       RETURNING id
     ), mb AS (
       INSERT INTO ${t.content_blocks}
         (message_id, block_index, type, raw, text, tool_use_id, tool_name, tool_input, tool_result_for_use_id, is_error)
       SELECT run.message_id, e.ord - 1, e.blk ->> 'type', e.blk,
              CASE e.blk ->> 'type' WHEN 'text' THEN e.blk ->> 'text' WHEN 'thinking' THEN e.blk ->> 'thinking' END,
              CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk ->> 'id' END,
              CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk ->> 'name' END,
              CASE WHEN e.blk ->> 'type' IN ('tool_use', 'server_tool_use') THEN e.blk -> 'input' END,
              CASE WHEN e.blk ->> 'type' = 'tool_result' THEN e.blk ->> 'tool_use_id' END,
              coalesce((e.blk ->> 'is_error')::boolean, false)
       FROM run, jsonb_array_elements(run.content) WITH ORDINALITY AS e(blk, ord)
     ), u AS (
       SELECT run.id AS run_id, run.iteration_id, u.idx, u.id, u.name, u.input,
              (u.name = ANY(ag.tools)) AS is_tool,
              (SELECT d.id FROM ${t.agents} d WHERE d.id = ANY(ag.agent_ids) AND d.name = u.name LIMIT 1) AS delegate_id,
              CASE WHEN run.iteration_number >= run.max_iterations
                THEN 'Error: not run, the run reached its limit of ' || run.max_iterations || ' model calls (maxIterations).' END AS skip
       FROM run JOIN ${t.agents} ag ON ag.id = run.agent_id, jsonb_to_recordset(run.uses) AS u(idx int, id text, name text, input jsonb)
       WHERE run.outcome = 'tools'
     ), u2 AS (
       SELECT u.*, CASE WHEN u.skip IS NOT NULL THEN 'skipped'
                        WHEN u.is_tool OR u.delegate_id IS NOT NULL THEN 'pending'
                        ELSE 'failed' END AS state
       FROM u
     ), te AS (
       INSERT INTO ${t.tool_executions} (run_id, iteration_id, block_index, tool_use_id, tool_name, tool_input, state,
         is_agent_tool, agent_id, output, is_error, error_message, completed_at, max_attempts)
       SELECT u2.run_id, u2.iteration_id, u2.idx, u2.id, u2.name, coalesce(u2.input, '{}'::jsonb), u2.state,
              (NOT u2.is_tool AND u2.delegate_id IS NOT NULL), CASE WHEN NOT u2.is_tool THEN u2.delegate_id END,
              CASE u2.state WHEN 'skipped' THEN to_jsonb(u2.skip)
                            WHEN 'failed' THEN to_jsonb('Error: tool "' || u2.name || '" is not available to this agent.') END,
              u2.state <> 'pending',
              CASE u2.state WHEN 'failed' THEN 'unknown tool ' || u2.name WHEN 'skipped' THEN u2.skip END,
              CASE WHEN u2.state <> 'pending' THEN now() END,
              $2
       FROM u2
       ORDER BY u2.run_id, u2.idx
       RETURNING iteration_id, tool_name, state
     ), notified AS (
       SELECT count(pg_notify($4, e)) AS n FROM jsonb_array_elements_text($6::jsonb) AS e
     ), finished AS (
       SELECT count(pg_notify($3, id || ':completed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END)) AS n
       FROM run WHERE outcome = 'complete'
     ), woken AS (
       SELECT count(pg_notify($5, tool_name)) AS n FROM (SELECT DISTINCT tool_name FROM te WHERE state = 'pending') x
     )
     SELECT run.iteration_id, run.id AS run_id, run.iteration_number, run.outcome,
            (SELECT count(*) FROM te WHERE te.iteration_id = run.iteration_id AND te.state = 'pending') AS pending,
            (SELECT n FROM notified) + (SELECT n FROM finished) + (SELECT n FROM woken) AS notifications
     FROM run ORDER BY run.ord`,
    [json(items), a.defaultToolAttempts, channel(t.schema, 'run'), channel(t.schema, 'event'), channel(t.schema, 'tool'), json(events)],
  );
  return rows.map((r) => ({
    iterationId: r.iteration_id,
    runId: r.run_id,
    iteration: num(r.iteration_number),
    outcome: r.outcome,
    runState: r.outcome === 'complete' ? 'completed' : 'pending_tools',
    pendingTools: num(r.pending),
  }));
}

import { randomUUID } from 'node:crypto';
import type { Queryable, SqlParam } from '../db/driver.js';
import type { ContentBlockParam, IterationState, RunMode, Usage } from '../types.js';
import { channel, type Tables } from './tables.js';
import { insertMessageCte } from './messages.js';
import { num } from './convert.js';
import { json } from '../validation.js';

/** The run an applied response belongs to, as it stood after the response was recorded. */
export interface RecordedResponse {
  runId: string;
  sessionId: string;
  agentId: string;
  mode: RunMode;
  depth: number;
  iterationNumber: number;
  maxIterations: number;
  parentToolExecutionId: string | null;
  messageId: string;
}

/**
 * Records a model response on its iteration (guarded: the iteration must still be in one of `fromStates`,
 * in `batchId` or leased by `leaseOwner`), inserts the assistant message and adds the usage to the run, in
 * one statement. Null when the guard failed: the response was already applied, or the run was cancelled.
 */
export async function recordResponse(
  db: Queryable,
  t: Tables,
  a: {
    iterationId: string;
    fromStates: IterationState[];
    batchId: string | null;
    leaseOwner: string | null;
    stopReason: string | null;
    content: ContentBlockParam[];
    usage: Usage;
    toolUseCount: number;
  },
): Promise<RecordedResponse | null> {
  const messageId = randomUUID();
  const params: SqlParam[] = [
    a.iterationId,
    a.stopReason,
    a.toolUseCount > 0,
    a.toolUseCount,
    a.usage.inputTokens,
    a.usage.outputTokens,
    a.usage.cacheCreationInputTokens,
    a.usage.cacheReadInputTokens,
    a.fromStates,
    a.batchId,
    a.leaseOwner,
    messageId,
  ];
  params.push(json(a.usage), json(a.content));
  const { rows } = await db.query<{
    id: string;
    session_id: string;
    agent_id: string;
    mode: RunMode;
    depth: unknown;
    iteration_number: unknown;
    max_iterations: unknown;
    parent_tool_execution_id: string | null;
  }>(
    `WITH it AS (
       UPDATE ${t.iterations} SET state = 'completed', completed_at = now(), stop_reason = $2, has_tool_use = $3,
         tool_execution_count = $4, input_tokens = $5, output_tokens = $6, cache_creation_input_tokens = $7,
         cache_read_input_tokens = $8, lease_owner = NULL, lease_expires_at = NULL, response_message_id = $12::uuid
       WHERE id = $1 AND state = ANY($9::text[]) AND ($10::uuid IS NULL OR batch_id = $10) AND ($11::text IS NULL OR lease_owner = $11)
       RETURNING run_id, iteration_number
     ), run AS (
       UPDATE ${t.runs} SET input_tokens = input_tokens + $5, output_tokens = output_tokens + $6,
         cache_creation_input_tokens = cache_creation_input_tokens + $7, cache_read_input_tokens = cache_read_input_tokens + $8,
         iteration_count = iteration_count + 1, updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.finalized_at IS NULL
       RETURNING ${t.runs}.id, ${t.runs}.session_id, ${t.runs}.agent_id, ${t.runs}.mode, ${t.runs}.depth,
         ${t.runs}.max_iterations, ${t.runs}.parent_tool_execution_id, it.iteration_number
     ),
     ${insertMessageCte(t, {
       gate: 'run',
       id: '$12::uuid',
       session: 'run.session_id',
       run: 'run.id',
       iteration: '$1::uuid',
       role: `'assistant'`,
       usage: '$13::jsonb',
       metadata: `'{}'::jsonb`,
       content: '$14::jsonb',
     })}
     SELECT run.* FROM run`,
    params,
  );
  const r = rows[0];
  if (!r) return null;
  return {
    runId: r.id,
    sessionId: r.session_id,
    agentId: r.agent_id,
    mode: r.mode,
    depth: num(r.depth),
    iterationNumber: num(r.iteration_number),
    maxIterations: num(r.max_iterations),
    parentToolExecutionId: r.parent_tool_execution_id,
    messageId,
  };
}

/**
 * Completes a run. Its answer is the text of the assistant turns after its last user turn (so a reply that
 * was continued after max_tokens or pause_turn comes back whole).
 */
export async function completeRun(db: Queryable, t: Tables, runId: string, stopReason: string | null): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH txt AS (
       SELECT coalesce(string_agg(cb.text, '' ORDER BY m.seq, cb.block_index), '') AS text
       FROM ${t.messages} m JOIN ${t.content_blocks} cb ON cb.message_id = m.id
       WHERE m.run_id = $1 AND m.role = 'assistant' AND cb.type = 'text'
         AND m.seq > coalesce((SELECT max(seq) FROM ${t.messages} WHERE run_id = $1 AND role = 'user'), 0)
     ), r AS (
       UPDATE ${t.runs} SET state = 'completed', response_text = txt.text, stop_reason = $2, finalized_at = now(), updated_at = now()
       FROM txt WHERE id = $1 AND finalized_at IS NULL
       RETURNING id, parent_tool_execution_id
     )
     SELECT id, pg_notify($3, id || ':completed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END) FROM r`,
    [runId, stopReason, channel(t.schema, 'run')],
  );
  return rows.length > 0;
}

export async function failRun(db: Queryable, t: Tables, runId: string, errorType: string, message: string, stopReason: string | null = null): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH r AS (
       UPDATE ${t.runs} SET state = 'failed', error_type = $2, error_message = $3, stop_reason = coalesce($4, stop_reason),
         finalized_at = now(), updated_at = now()
       WHERE id = $1 AND finalized_at IS NULL
       RETURNING id, parent_tool_execution_id
     ), i AS (
       UPDATE ${t.iterations} SET state = 'failed', completed_at = now(), error_type = $2, error_message = $3,
         lease_owner = NULL, lease_expires_at = NULL
       FROM r WHERE ${t.iterations}.run_id = r.id AND ${t.iterations}.completed_at IS NULL
     ), te AS (
       UPDATE ${t.tool_executions} SET state = 'skipped', completed_at = now(), is_error = true,
         output = to_jsonb('not run: the run failed ('::text || $2 || ')'), lease_owner = NULL, lease_expires_at = NULL
       FROM r WHERE ${t.tool_executions}.run_id = r.id AND ${t.tool_executions}.completed_at IS NULL
     )
     SELECT id, pg_notify($5, id || ':failed' || CASE WHEN parent_tool_execution_id IS NULL THEN '' ELSE ':child' END) FROM r`,
    [runId, errorType, message, stopReason, channel(t.schema, 'run')],
  );
  return rows.length > 0;
}

/**
 * Queues the run's next model call (after pause_turn or a max_tokens continuation), or fails the run when
 * it has used its iterations.
 */
export async function continueRun(db: Queryable, t: Tables, runId: string, trigger: 'continuation' | 'tool_results'): Promise<'pending' | 'max_iterations' | 'gone'> {
  const { rows } = await db.query<{ state: string }>(
    `WITH r AS (
       SELECT id, mode, current_iteration, max_iterations FROM ${t.runs} WHERE id = $1 AND finalized_at IS NULL
     ), ni AS (
       INSERT INTO ${t.iterations} (id, run_id, iteration_number, mode, trigger_type)
       SELECT $2, r.id, r.current_iteration + 1, r.mode, $3 FROM r WHERE r.current_iteration < r.max_iterations
       RETURNING id, mode
     ), u AS (
       UPDATE ${t.runs} SET state = 'pending', current_iteration = current_iteration + 1, current_iteration_id = ni.id, updated_at = now()
       FROM ni WHERE ${t.runs}.id = $1
       RETURNING ni.mode
     )
     SELECT 'pending' AS state, pg_notify($4, mode) FROM u
     UNION ALL SELECT 'max_iterations', NULL FROM r WHERE r.current_iteration >= r.max_iterations`,
    [runId, randomUUID(), trigger, channel(t.schema, 'iteration')],
  );
  const state = rows[0]?.state;
  return state === 'pending' ? 'pending' : state === 'max_iterations' ? 'max_iterations' : 'gone';
}

export interface ToolUse {
  index: number;
  id: string;
  name: string;
  input: unknown;
}

/**
 * Creates one tool execution per tool_use and moves the run to pending_tools. A tool the agent does not
 * offer fails at once with an error result; `skipReason` makes every call a skipped error result (a
 * truncated or over-budget turn). Wakes the tool runners of the tools that have work. Returns how many
 * executions are still to run.
 */
export async function createToolExecutions(
  db: Queryable,
  t: Tables,
  a: { runId: string; iterationId: string; agentId: string; uses: ToolUse[]; maxAttempts: number; skipReason: string | null },
): Promise<number> {
  const { rows } = await db.query<{ pending: unknown }>(
    `WITH a AS (SELECT tools, agent_ids FROM ${t.agents} WHERE id = $3),
     u AS (
       SELECT u.idx, u.id, u.name, u.input,
              (u.name = ANY(a.tools)) AS is_tool,
              (SELECT d.id FROM ${t.agents} d WHERE d.id = ANY(a.agent_ids) AND d.name = u.name LIMIT 1) AS delegate_id
       FROM jsonb_to_recordset($4::jsonb) AS u(idx int, id text, name text, input jsonb), a
     ), u2 AS (
       SELECT u.*, CASE WHEN $6::text IS NOT NULL THEN 'skipped'
                        WHEN u.is_tool OR u.delegate_id IS NOT NULL THEN 'pending'
                        ELSE 'failed' END AS state
       FROM u
     ), te AS (
       INSERT INTO ${t.tool_executions} (run_id, iteration_id, block_index, tool_use_id, tool_name, tool_input, state,
         is_agent_tool, agent_id, output, is_error, error_message, completed_at, max_attempts)
       SELECT $1, $2, u2.idx, u2.id, u2.name, coalesce(u2.input, '{}'::jsonb), u2.state,
              (NOT u2.is_tool AND u2.delegate_id IS NOT NULL), CASE WHEN NOT u2.is_tool THEN u2.delegate_id END,
              CASE u2.state WHEN 'skipped' THEN to_jsonb($6::text)
                            WHEN 'failed' THEN to_jsonb('Error: tool "' || u2.name || '" is not available to this agent.') END,
              u2.state <> 'pending',
              CASE u2.state WHEN 'failed' THEN 'unknown tool ' || u2.name WHEN 'skipped' THEN $6::text END,
              CASE WHEN u2.state <> 'pending' THEN now() END,
              $5
       FROM u2
       RETURNING tool_name, state
     ), r AS (
       UPDATE ${t.runs} SET state = 'pending_tools', tool_iterations = tool_iterations + 1, updated_at = now()
       WHERE id = $1 AND finalized_at IS NULL
     ), woken AS (
       SELECT pg_notify($7, tool_name) FROM (SELECT DISTINCT tool_name FROM te WHERE state = 'pending') x
     )
     SELECT (SELECT count(*) FROM te WHERE state = 'pending') AS pending, (SELECT count(*) FROM woken) AS woken`,
    [
      a.runId,
      a.iterationId,
      a.agentId,
      json(a.uses.map((u) => ({ idx: u.index, id: u.id, name: u.name, input: u.input ?? {} }))),
      a.maxAttempts,
      a.skipReason,
      channel(t.schema, 'tool'),
    ],
  );
  return num(rows[0]?.pending);
}

/**
 * SELECT yielding `content`: the tool_result blocks of an iteration's executions in the model's order
 * (the user message that answers its tool_use blocks).
 */
export const TOOL_RESULT_BLOCKS = (t: Tables, iterationSql: string) => `
  SELECT jsonb_agg(${toolResultBlock('')} ORDER BY block_index) AS content
  FROM ${t.tool_executions} WHERE iteration_id = ${iterationSql}`;

/** The tool_result block (jsonb) of the tool execution row `te` ('' for unqualified columns). */
export function toolResultBlock(te: string): string {
  const c = (col: string) => (te ? `${te}.${col}` : col);
  return `jsonb_build_object(
           'type', 'tool_result', 'tool_use_id', ${c('tool_use_id')},
           'content', CASE WHEN jsonb_typeof(${c('output')}) IN ('string', 'array') AND ${c('output')} NOT IN ('""'::jsonb, '[]'::jsonb) THEN ${c('output')}
                           WHEN ${c('is_error')} THEN to_jsonb(coalesce(${c('error_message')}, 'Error'))
                           ELSE to_jsonb('(no output)'::text) END,
           'is_error', ${c('is_error')})`;
}

/** Takes the run's row lock, so that tool completions of one run serialise and exactly one continues it. */
export async function lockRun(db: Queryable, t: Tables, runId: string): Promise<void> {
  await db.query(`SELECT 1 FROM ${t.runs} WHERE id = $1 FOR UPDATE`, [runId]);
}

/**
 * When every tool execution of the run's current iteration is terminal: writes one user message with all
 * tool_result blocks in the model's order and queues the next model call (or fails the run at
 * maxIterations, the results still written so the history stays valid). Must run in a transaction that
 * took {@link lockRun} before changing any execution of the run; that makes it exactly-once however many
 * completions race. Returns what happened.
 */
export async function continueAfterTools(
  db: Queryable,
  t: Tables,
  runId: string,
  iterationId: string,
): Promise<'continued' | 'max_iterations' | 'waiting' | 'gone'> {
  return (await continueRunsAfterTools(db, t, [{ runId, iterationId }])).get(runId) ?? 'gone';
}

/** Takes the row locks of many runs, in id order (so two such batches never deadlock each other). */
export async function lockRuns(db: Queryable, t: Tables, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  if (runIds.length === 1) return lockRun(db, t, runIds[0]!);
  await db.query(`SELECT 1 FROM ${t.runs} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [[...new Set(runIds)]]);
}

/**
 * {@link continueAfterTools} for many runs in one statement, with the same effects for each: a run whose current
 * iteration has no tool execution left pending or running gets one user message with every tool_result (in the
 * model's order) and its next iteration (or fails at maxIterations); the others are left waiting. The caller must
 * hold every run's lock ({@link lockRuns}), taken before it changed any of their executions, in this transaction.
 */
export async function continueRunsAfterTools(
  db: Queryable,
  t: Tables,
  pairs: readonly { runId: string; iterationId: string }[],
): Promise<Map<string, 'continued' | 'max_iterations' | 'waiting'>> {
  const out = new Map<string, 'continued' | 'max_iterations' | 'waiting'>();
  if (pairs.length === 0) return out;
  const input = pairs.map((p) => ({ run_id: p.runId, iteration_id: p.iterationId, next_id: randomUUID(), message_id: randomUUID() }));
  const { rows } = await db.query<{ run_id: string; outcome: string }>(
    `WITH x AS MATERIALIZED (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(run_id uuid, iteration_id uuid, next_id uuid, message_id uuid)
     ), r AS (
       SELECT ru.id, ru.session_id, ru.mode, ru.current_iteration, ru.max_iterations, x.iteration_id, x.next_id, x.message_id
       FROM ${t.runs} ru JOIN x ON ru.id = x.run_id AND ru.current_iteration_id = x.iteration_id
       -- id = ANY(ARRAY(...)): primary-key lookups of the batch's runs, never a scan of every run in that state
       WHERE ru.id = ANY(ARRAY(SELECT run_id FROM x)) AND ru.state = 'pending_tools'
     ), ok AS (
       SELECT r.* FROM r
       WHERE NOT EXISTS (SELECT 1 FROM ${t.tool_executions} te WHERE te.iteration_id = r.iteration_id AND te.state IN ('pending', 'running'))
     ), blocks AS (
       SELECT ok.message_id, jsonb_agg(${toolResultBlock('te')} ORDER BY te.block_index) AS content
       FROM ok JOIN ${t.tool_executions} te ON te.iteration_id = ok.iteration_id
       WHERE te.iteration_id = ANY(ARRAY(SELECT iteration_id FROM ok))
       GROUP BY ok.message_id
     ), m AS (
       INSERT INTO ${t.messages} (id, session_id, run_id, iteration_id, role, usage, metadata)
       SELECT ok.message_id, ok.session_id, ok.id, ok.iteration_id, 'user', NULL, '{}'::jsonb FROM ok ORDER BY ok.id
       RETURNING id
     ), mb AS (
       INSERT INTO ${t.content_blocks}
         (message_id, block_index, type, raw, text, tool_use_id, tool_name, tool_input, tool_result_for_use_id, is_error)
       SELECT b.message_id, e.ord - 1, e.blk ->> 'type', e.blk, NULL, NULL, NULL, NULL, e.blk ->> 'tool_use_id',
              coalesce((e.blk ->> 'is_error')::boolean, false)
       FROM blocks b, jsonb_array_elements(b.content) WITH ORDINALITY AS e(blk, ord)
     ), ni AS (
       INSERT INTO ${t.iterations} (id, run_id, iteration_number, mode, trigger_type)
       SELECT ok.next_id, ok.id, ok.current_iteration + 1, ok.mode, 'tool_results' FROM ok WHERE ok.current_iteration < ok.max_iterations
       RETURNING id, run_id, mode
     ), u AS (
       UPDATE ${t.runs} SET
         state = CASE WHEN ni.id IS NULL THEN 'failed' ELSE 'pending' END,
         current_iteration = ${t.runs}.current_iteration + CASE WHEN ni.id IS NULL THEN 0 ELSE 1 END,
         current_iteration_id = coalesce(ni.id, ${t.runs}.current_iteration_id),
         error_type = CASE WHEN ni.id IS NULL THEN 'max_iterations' END,
         error_message = CASE WHEN ni.id IS NULL THEN 'the run used all ' || ok.max_iterations || ' model calls (maxIterations) and the model still wanted to continue' END,
         finalized_at = CASE WHEN ni.id IS NULL THEN now() END,
         updated_at = now()
       FROM ok LEFT JOIN ni ON ni.run_id = ok.id
       WHERE ${t.runs}.id = ok.id AND ${t.runs}.id = ANY(ARRAY(SELECT id FROM ok))
       RETURNING ${t.runs}.id, ${t.runs}.state, ni.mode, ${t.runs}.parent_tool_execution_id
     )
     SELECT u.id AS run_id, CASE WHEN u.state = 'pending' THEN 'continued' ELSE 'max_iterations' END AS outcome,
            CASE WHEN u.state = 'pending' THEN pg_notify($2, u.mode) ELSE pg_notify($3, u.id || ':failed' || CASE WHEN u.parent_tool_execution_id IS NULL THEN '' ELSE ':child' END) END
     FROM u
     UNION ALL
     SELECT r.id, 'waiting', NULL FROM r WHERE NOT EXISTS (SELECT 1 FROM ok WHERE ok.id = r.id)`,
    [json(input), channel(t.schema, 'iteration'), channel(t.schema, 'run')],
  );
  for (const r of rows) out.set(r.run_id, r.outcome as 'continued' | 'max_iterations' | 'waiting');
  return out;
}

import type { Queryable } from '../db/driver.js';
import type { Agent, ContentBlockParam, JsonObject } from '../types.js';
import type { Tables } from './tables.js';
import { jsonb, num } from './convert.js';
import { toAgent, type AgentRow } from './agents.js';
import type { ToolDefinitionRow } from './tools.js';

/** Everything needed to build the Claude request of one iteration. */
export interface RequestContext {
  iterationId: string;
  iterationNumber: number;
  runId: string;
  sessionId: string;
  depth: number;
  maxIterations: number;
  overrideInstructions: string | null;
  appendInstructions: string | null;
  variables: JsonObject;
  agent: Agent;
  /** The conversation the model sees: earlier completed runs of the session, then this run's messages. */
  history: { role: 'user' | 'assistant'; content: ContentBlockParam[] }[];
  tools: ToolDefinitionRow[];
  /** Agents this agent may delegate to (offered as tools). */
  delegates: Pick<Agent, 'id' | 'name' | 'description'>[];
  /** Tool names the agent lists that no instance ever registered. */
  missingTools: string[];
}

/** A row of {@link contextColumns}. */
export interface ContextRow {
  iteration_id: string;
  iteration_number: unknown;
  run_id: string;
  session_id: string;
  depth: unknown;
  max_iterations: unknown;
  override_instructions: string | null;
  append_instructions: string | null;
  variables: unknown;
  /** The agent row as JSON (row_to_json), mapped like any agent row. */
  agent: AgentRow;
  history: unknown;
  tool_defs: unknown;
  delegates: unknown;
}

/**
 * The select list of a request context, for iteration `i` joined to its run `r` and agent `a`: the run's
 * columns, the agent row, and as JSON the history, the agent's tool definitions and its delegates. Embedded in
 * a claim statement, it loads the contexts of every claimed iteration in that same round trip.
 *
 * A root run's history is the session's messages that belong to root runs completed before this run was
 * created (and messages outside any run), followed by its own messages. Runs still in flight, failed,
 * cancelled or superseded by a regeneration are left out, so concurrent runs in one session never interleave and
 * a failed run never poisons the session. A child run sees only its own messages.
 */
export function contextColumns(t: Tables, i = 'i', r = 'r', a = 'a'): string {
  return `${i}.id AS iteration_id, ${i}.iteration_number, ${r}.id AS run_id, ${r}.session_id, ${r}.depth, ${r}.max_iterations,
    ${r}.override_instructions, ${r}.append_instructions, ${r}.variables, row_to_json(${a}) AS agent,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('role', m.role, 'content',
              coalesce((SELECT jsonb_agg(cb.raw ORDER BY cb.block_index) FROM ${t.content_blocks} cb WHERE cb.message_id = m.id), '[]'::jsonb))
            ORDER BY (m.run_id IS NOT DISTINCT FROM ${r}.id), m.seq), '[]'::jsonb)
     FROM ${t.messages} m LEFT JOIN ${t.runs} o ON o.id = m.run_id
     WHERE m.session_id = ${r}.session_id
       AND (m.run_id = ${r}.id
            OR (${r}.depth = 0 AND (m.run_id IS NULL
                 OR (o.depth = 0 AND o.state = 'completed' AND o.superseded_by_run_id IS NULL AND o.finalized_at < ${r}.created_at))))) AS history,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('name', td.name, 'description', td.description, 'inputSchema', td.input_schema)), '[]'::jsonb)
     FROM ${t.tools} td WHERE td.name = ANY(${a}.tools)) AS tool_defs,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('id', d.id, 'name', d.name, 'description', d.description)), '[]'::jsonb)
     FROM ${t.agents} d WHERE d.id = ANY(${a}.agent_ids)) AS delegates`;
}

export function toRequestContext(r: ContextRow): RequestContext {
  const agent = toAgent(r.agent);
  const defs = new Map(jsonb<ToolDefinitionRow[]>(r.tool_defs).map((d) => [d.name, d]));
  const delegates = new Map(jsonb<Pick<Agent, 'id' | 'name' | 'description'>[]>(r.delegates).map((d) => [d.id, d]));
  return {
    iterationId: r.iteration_id,
    iterationNumber: num(r.iteration_number),
    runId: r.run_id,
    sessionId: r.session_id,
    depth: num(r.depth),
    maxIterations: num(r.max_iterations),
    overrideInstructions: r.override_instructions,
    appendInstructions: r.append_instructions,
    variables: jsonb<JsonObject>(r.variables),
    agent,
    history: jsonb<RequestContext['history']>(r.history),
    tools: agent.tools.flatMap((n) => (defs.has(n) ? [defs.get(n)!] : [])),
    delegates: agent.agentIds.flatMap((id) => (delegates.has(id) ? [delegates.get(id)!] : [])),
    missingTools: agent.tools.filter((n) => !defs.has(n)),
  };
}

/** Loads the request contexts of many iterations in one query, whatever their count. */
export async function loadRequestContexts(db: Queryable, t: Tables, iterationIds: readonly string[]): Promise<RequestContext[]> {
  if (iterationIds.length === 0) return [];
  const { rows } = await db.query<ContextRow>(
    `SELECT ${contextColumns(t)}
     FROM ${t.iterations} i JOIN ${t.runs} r ON r.id = i.run_id JOIN ${t.agents} a ON a.id = r.agent_id
     WHERE i.id = ANY($1::uuid[])`,
    [iterationIds],
  );
  return rows.map(toRequestContext);
}

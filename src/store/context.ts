import type { Queryable } from '../db/driver.js';
import type { Agent, ContentBlockParam, JsonObject } from '../types.js';
import type { Tables } from './tables.js';
import { jsonb, num } from './convert.js';
import { toAgent, type AgentRow } from './agents.js';
import { getToolDefinitions, type ToolDefinitionRow } from './tools.js';

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

interface CtxRow {
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
}

/**
 * Loads the request contexts of many iterations with a fixed number of queries (iterations with runs and
 * agents; every history message with its blocks; tool definitions; delegate agents), whatever their count.
 *
 * A root run's history is the session's messages that belong to root runs completed before this run was
 * created (and messages outside any run), followed by its own messages. Runs still in flight, failed,
 * cancelled or superseded by a regeneration are left out, so concurrent runs in one session never interleave and a failed run never
 * poisons the session. A child run sees only its own messages.
 */
export async function loadRequestContexts(db: Queryable, t: Tables, iterationIds: readonly string[]): Promise<RequestContext[]> {
  if (iterationIds.length === 0) return [];
  const { rows } = await db.query<CtxRow>(
    `SELECT i.id AS iteration_id, i.iteration_number, r.id AS run_id, r.session_id, r.depth, r.max_iterations,
            r.override_instructions, r.append_instructions, r.variables, row_to_json(a) AS agent
     FROM ${t.iterations} i JOIN ${t.runs} r ON r.id = i.run_id JOIN ${t.agents} a ON a.id = r.agent_id
     WHERE i.id = ANY($1::uuid[])`,
    [iterationIds],
  );
  const runIds = rows.map((r) => r.run_id);
  const { rows: msgs } = await db.query<{ ctx_run: string; role: 'user' | 'assistant'; content: ContentBlockParam[] }>(
    `SELECT x.id AS ctx_run, m.role,
            coalesce((SELECT jsonb_agg(cb.raw ORDER BY cb.block_index) FROM ${t.content_blocks} cb WHERE cb.message_id = m.id), '[]'::jsonb) AS content
     FROM ${t.runs} x
     JOIN ${t.messages} m ON m.session_id = x.session_id
     LEFT JOIN ${t.runs} o ON o.id = m.run_id
     WHERE x.id = ANY($1::uuid[])
       AND (m.run_id = x.id
            OR (x.depth = 0 AND (m.run_id IS NULL
                 OR (o.depth = 0 AND o.state = 'completed' AND o.superseded_by_run_id IS NULL AND o.finalized_at < x.created_at))))
     ORDER BY x.id, (m.run_id IS NOT DISTINCT FROM x.id), m.seq`,
    [runIds],
  );
  const history = new Map<string, RequestContext['history']>();
  for (const m of msgs) {
    const list = history.get(m.ctx_run) ?? [];
    list.push({ role: m.role, content: jsonb<ContentBlockParam[]>(m.content) });
    history.set(m.ctx_run, list);
  }
  const toolNames = [...new Set(rows.flatMap((r) => r.agent.tools ?? []))];
  const defs = await getToolDefinitions(db, t, toolNames);
  const byName = new Map(defs.map((d) => [d.name, d]));
  const delegateIds = [...new Set(rows.flatMap((r) => r.agent.agent_ids ?? []))];
  const delegates = new Map<string, Pick<Agent, 'id' | 'name' | 'description'>>();
  if (delegateIds.length > 0) {
    const { rows: ds } = await db.query<{ id: string; name: string; description: string }>(
      `SELECT id, name, description FROM ${t.agents} WHERE id = ANY($1::uuid[])`,
      [delegateIds],
    );
    for (const d of ds) delegates.set(d.id, d);
  }
  return rows.map((r) => ({
    iterationId: r.iteration_id,
    iterationNumber: num(r.iteration_number),
    runId: r.run_id,
    sessionId: r.session_id,
    depth: num(r.depth),
    maxIterations: num(r.max_iterations),
    overrideInstructions: r.override_instructions,
    appendInstructions: r.append_instructions,
    variables: jsonb<JsonObject>(r.variables),
    agent: toAgent(r.agent),
    history: history.get(r.run_id) ?? [],
    tools: (r.agent.tools ?? []).flatMap((n) => (byName.has(n) ? [byName.get(n)!] : [])),
    delegates: (r.agent.agent_ids ?? []).flatMap((id) => (delegates.has(id) ? [delegates.get(id)!] : [])),
    missingTools: (r.agent.tools ?? []).filter((n) => !byName.has(n)),
  }));
}

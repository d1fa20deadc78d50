import type { Queryable, SqlParam } from '../db/driver.js';
import type { Agent, AgentDefinition, AgentPatch, JsonObject, Page } from '../types.js';
import type { Tables } from './tables.js';
import { date, jsonb, numOrNull } from './convert.js';
import { json } from '../validation.js';

const COLUMNS = 'id, name, description, model, system_prompt, tools, agent_ids, max_tokens, metadata, config, created_at, updated_at';

export interface AgentRow {
  id: string;
  name: string;
  description: string;
  model: string;
  system_prompt: string;
  tools: string[];
  agent_ids: string[];
  max_tokens: unknown;
  metadata: unknown;
  config: unknown;
  created_at: unknown;
  updated_at: unknown;
}

export function toAgent(r: AgentRow): Agent {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    model: r.model,
    systemPrompt: r.system_prompt,
    tools: r.tools ?? [],
    agentIds: r.agent_ids ?? [],
    maxTokens: numOrNull(r.max_tokens),
    metadata: jsonb<JsonObject>(r.metadata),
    config: jsonb<JsonObject>(r.config),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

function params(def: AgentDefinition): SqlParam[] {
  return [
    def.name,
    def.description ?? '',
    def.model,
    def.systemPrompt ?? '',
    def.tools ?? [],
    def.agentIds ?? [],
    def.maxTokens ?? null,
    json(def.metadata ?? {}),
    json(def.config ?? {}),
  ];
}

const INSERT_VALUES = `($1, $2, $3, $4, $5::text[], $6::uuid[], $7::int, $8::jsonb, $9::jsonb)`;
const INSERT_COLUMNS = `(name, description, model, system_prompt, tools, agent_ids, max_tokens, metadata, config)`;

export async function insertAgent(db: Queryable, t: Tables, def: AgentDefinition): Promise<Agent> {
  const { rows } = await db.query<AgentRow>(
    `INSERT INTO ${t.agents} ${INSERT_COLUMNS} VALUES ${INSERT_VALUES} RETURNING ${COLUMNS}`,
    params(def),
  );
  return toAgent(rows[0]!);
}

/** Inserts unless an agent with the same name and metadata exists; returns null when it did exist. */
export async function insertAgentIfAbsent(db: Queryable, t: Tables, def: AgentDefinition): Promise<Agent | null> {
  const { rows } = await db.query<AgentRow>(
    `INSERT INTO ${t.agents} ${INSERT_COLUMNS} VALUES ${INSERT_VALUES}
     ON CONFLICT (name, md5(metadata::text)) DO NOTHING
     RETURNING ${COLUMNS}`,
    params(def),
  );
  return rows[0] ? toAgent(rows[0]) : null;
}

export async function getAgentById(db: Queryable, t: Tables, id: string): Promise<Agent | null> {
  const { rows } = await db.query<AgentRow>(`SELECT ${COLUMNS} FROM ${t.agents} WHERE id = $1`, [id]);
  return rows[0] ? toAgent(rows[0]) : null;
}

export async function getAgentsByIds(db: Queryable, t: Tables, ids: readonly string[]): Promise<Agent[]> {
  if (ids.length === 0) return [];
  const { rows } = await db.query<AgentRow>(`SELECT ${COLUMNS} FROM ${t.agents} WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map(toAgent);
}

/** Exact tenant match: metadata must equal, not merely contain, the given object. */
export async function getAgentByName(db: Queryable, t: Tables, name: string, metadata: JsonObject): Promise<Agent | null> {
  const { rows } = await db.query<AgentRow>(
    `SELECT ${COLUMNS} FROM ${t.agents} WHERE name = $1 AND md5(metadata::text) = md5($2::jsonb::text) AND metadata = $2::jsonb`,
    [name, json(metadata)],
  );
  return rows[0] ? toAgent(rows[0]) : null;
}

export async function listAgents(
  db: Queryable,
  t: Tables,
  opts: { metadata?: JsonObject; limit: number; offset: number },
): Promise<Page<Agent>> {
  const { rows } = await db.query<AgentRow & { total: unknown }>(
    `SELECT ${COLUMNS}, count(*) OVER () AS total FROM ${t.agents}
     WHERE ($1::jsonb IS NULL OR metadata @> $1::jsonb)
     ORDER BY name, id LIMIT $2 OFFSET $3`,
    [opts.metadata ? json(opts.metadata) : null, opts.limit, opts.offset],
  );
  if (rows.length === 0 && opts.offset > 0) {
    const { rows: c } = await db.query<{ n: unknown }>(
      `SELECT count(*) AS n FROM ${t.agents} WHERE ($1::jsonb IS NULL OR metadata @> $1::jsonb)`,
      [opts.metadata ? json(opts.metadata) : null],
    );
    return { items: [], total: Number(c[0]!.n) };
  }
  return { items: rows.map(toAgent), total: rows[0] ? Number(rows[0].total) : 0 };
}

const PATCH_COLUMNS: Record<keyof AgentPatch, [column: string, cast: string]> = {
  name: ['name', 'text'],
  description: ['description', 'text'],
  model: ['model', 'text'],
  systemPrompt: ['system_prompt', 'text'],
  tools: ['tools', 'text[]'],
  agentIds: ['agent_ids', 'uuid[]'],
  maxTokens: ['max_tokens', 'int'],
  metadata: ['metadata', 'jsonb'],
  config: ['config', 'jsonb'],
};

/** Applies only the fields present in `patch`. Column names come from a fixed map, never from input. */
export async function updateAgent(db: Queryable, t: Tables, id: string, patch: AgentPatch): Promise<Agent | null> {
  const sets: string[] = [];
  const values: SqlParam[] = [id];
  for (const key of Object.keys(PATCH_COLUMNS) as (keyof AgentPatch)[]) {
    if (!(key in patch) || patch[key] === undefined) continue;
    const [column, cast] = PATCH_COLUMNS[key];
    const v = patch[key];
    values.push(cast === 'jsonb' ? json(v) : ((v ?? null) as SqlParam));
    sets.push(`${column} = $${values.length}::${cast}`);
  }
  const { rows } = await db.query<AgentRow>(
    `UPDATE ${t.agents} SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
    values,
  );
  return rows[0] ? toAgent(rows[0]) : null;
}

export async function deleteAgent(db: Queryable, t: Tables, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${t.agents} WHERE id = $1`, [id]);
  return rowCount > 0;
}

/** Agents that list `id` among their delegates (blocks deletion, as runs do). */
export async function agentsDelegatingTo(db: Queryable, t: Tables, id: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(`SELECT name FROM ${t.agents} WHERE $1::uuid = ANY(agent_ids) ORDER BY name`, [id]);
  return rows.map((r) => r.name);
}

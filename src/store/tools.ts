import type { Queryable } from '../db/driver.js';
import type { Tables } from './tables.js';
import { json } from '../validation.js';

export interface ToolDefinitionRow {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/**
 * Writes the definitions of this instance's tools and its registrations in one statement. The definition
 * of a shared name is last-writer-wins: every worker of a deployment registers the same code.
 */
export async function registerInstanceTools(
  db: Queryable,
  t: Tables,
  instanceId: string,
  tools: readonly ToolDefinitionRow[],
): Promise<void> {
  if (tools.length === 0) return;
  await db.query(
    `WITH defs AS (
       SELECT d ->> 'name' AS name, d ->> 'description' AS description, d -> 'inputSchema' AS input_schema
       FROM jsonb_array_elements($2::jsonb) AS d
     ), up AS (
       INSERT INTO ${t.tools} (name, description, input_schema)
       SELECT name, description, input_schema FROM defs
       ON CONFLICT (name) DO UPDATE
         SET description = excluded.description, input_schema = excluded.input_schema, updated_at = now()
         WHERE ${t.tools}.description IS DISTINCT FROM excluded.description
            OR ${t.tools}.input_schema IS DISTINCT FROM excluded.input_schema
       RETURNING name
     )
     INSERT INTO ${t.instance_tools} (instance_id, tool_name)
     SELECT $1, name FROM defs
     ON CONFLICT DO NOTHING`,
    [instanceId, json(tools)],
  );
}

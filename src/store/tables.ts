import { quoteIdent, validateSchemaName } from '../db/identifiers.js';

const TABLES = [
  'agents',
  'tools',
  'sessions',
  'batches',
  'runs',
  'iterations',
  'messages',
  'content_blocks',
  'tool_executions',
  'instances',
  'instance_tools',
  'leader',
  'compaction_events',
  'message_archive',
] as const;

export type TableName = (typeof TABLES)[number];

/** Schema-qualified, quoted table names, built once per client and interpolated into SQL text. */
export type Tables = Record<TableName, string> & { schema: string };

export function tables(schema: string): Tables {
  const q = quoteIdent(validateSchemaName(schema));
  const t = { schema } as Tables;
  for (const name of TABLES) t[name] = `${q}.${quoteIdent(name)}`;
  return t;
}

/** NOTIFY channel names carry the schema, so two agentpg installs in one database never hear each other. */
export function channel(schema: string, topic: 'run' | 'iteration' | 'tool' | 'batch' | 'event'): string {
  return `${schema}.${topic}`;
}

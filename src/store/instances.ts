import type { Queryable } from '../db/driver.js';
import type { JsonObject } from '../types.js';
import type { Tables } from './tables.js';
import { json } from '../validation.js';

export interface InstanceInfo {
  id: string;
  name: string;
  hostname: string;
  pid: number;
  version: string;
  maxConcurrentRuns: number;
  maxConcurrentTools: number;
  metadata: JsonObject;
}

export async function upsertInstance(db: Queryable, t: Tables, i: InstanceInfo): Promise<void> {
  await db.query(
    `INSERT INTO ${t.instances} (id, name, hostname, pid, version, max_concurrent_runs, max_concurrent_tools, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
     ON CONFLICT (id) DO UPDATE SET name = excluded.name, hostname = excluded.hostname, pid = excluded.pid,
       version = excluded.version, max_concurrent_runs = excluded.max_concurrent_runs,
       max_concurrent_tools = excluded.max_concurrent_tools, metadata = excluded.metadata, last_heartbeat_at = now()`,
    [i.id, i.name, i.hostname, i.pid, i.version, i.maxConcurrentRuns, i.maxConcurrentTools, json(i.metadata)],
  );
}

/** Returns false when the row is gone (cleaned up while we were paused, or lost in a crash): re-register then. */
export async function heartbeat(db: Queryable, t: Tables, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`UPDATE ${t.instances} SET last_heartbeat_at = now() WHERE id = $1`, [id]);
  return rowCount > 0;
}

export async function deleteInstance(db: Queryable, t: Tables, id: string): Promise<void> {
  await db.query(`DELETE FROM ${t.instances} WHERE id = $1`, [id]);
}

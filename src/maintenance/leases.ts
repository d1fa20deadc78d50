import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { channel } from '../store/tables.js';
import { continueAfterTools, lockRun } from '../store/transitions.js';
import { num } from '../store/convert.js';
import { Loop } from '../engine/loop.js';

/** Renews, in one statement, every lease this instance holds: its running tools, streams and polled batches. */
export function leaseKeeper(driver: Driver, t: Tables, config: ResolvedConfig): Loop {
  return new Loop(
    'lease keeper',
    async () => {
      await driver.query(
        `WITH te AS (
           UPDATE ${t.tool_executions} SET lease_expires_at = now() + $2 * interval '1 millisecond'
           WHERE lease_owner = $1 AND state = 'running'
         ), it AS (
           UPDATE ${t.iterations} SET lease_expires_at = now() + $2 * interval '1 millisecond'
           WHERE lease_owner = $1 AND state = 'streaming'
         )
         UPDATE ${t.batches} SET lease_expires_at = now() + $2 * interval '1 millisecond' WHERE lease_owner = $1`,
        [config.instanceId, config.leaseMs],
      );
      return null;
    },
    Math.max(50, Math.floor(config.leaseMs / 3)),
    config.logger,
  );
}

/**
 * Returns tool calls whose worker stopped renewing its lease (killed, paused, partitioned) to the queue.
 * The attempt the dead worker used is counted; when none is left the call becomes an error result and the
 * run continues, so the model always gets a tool_result.
 */
export function toolRescuer(driver: Driver, t: Tables, config: ResolvedConfig): Loop {
  return new Loop(
    'tool rescuer',
    async () => {
      const { rows } = await driver.query<{ n: unknown }>(
        `WITH r AS (
           UPDATE ${t.tool_executions} SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL, scheduled_at = now(),
             last_error = 'the worker running this call stopped renewing its lease'
           WHERE state = 'running' AND lease_expires_at < now() AND attempt < max_attempts
           RETURNING tool_name
         )
         SELECT count(*) AS n, (SELECT count(*) FROM (SELECT pg_notify($1, tool_name) FROM (SELECT DISTINCT tool_name FROM r) d) x) AS woken FROM r`,
        [channel(t.schema, 'tool')],
      );
      const { rows: exhausted } = await driver.query<{ id: string; run_id: string; iteration_id: string }>(
        `SELECT id, run_id, iteration_id FROM ${t.tool_executions}
         WHERE state = 'running' AND lease_expires_at < now() AND attempt >= max_attempts LIMIT 100`,
      );
      for (const e of exhausted) {
        await driver.transaction(async (tx) => {
          await lockRun(tx, t, e.run_id);
          const { rowCount } = await tx.query(
            `UPDATE ${t.tool_executions} SET state = 'failed', is_error = true, completed_at = now(), lease_owner = NULL,
               lease_expires_at = NULL, error_message = 'the worker running this call stopped before finishing',
               output = to_jsonb('Error: the tool call did not finish: the worker running it stopped (' || attempt || ' attempts).'::text)
             WHERE id = $1 AND state = 'running' AND lease_expires_at < now()`,
            [e.id],
          );
          if (rowCount > 0) await continueAfterTools(tx, t, e.run_id, e.iteration_id);
        });
      }
      if (num(rows[0]?.n) > 0) config.logger.info('tool rescuer: returned expired tool calls to the queue', { count: num(rows[0]?.n) });
      return null;
    },
    Math.max(100, Math.floor(config.leaseMs / 2)),
    config.logger,
  );
}

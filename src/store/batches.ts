import type { Queryable } from '../db/driver.js';
import type { Tables } from './tables.js';
import { date, num } from './convert.js';

export interface ClaimedIteration {
  iterationId: string;
  runId: string;
  attempt: number;
}

export type FlushDecision =
  | { kind: 'busy' }
  | { kind: 'empty'; nextDueInMs: number | null }
  | { kind: 'wait'; inMs: number }
  | { kind: 'claimed'; batchId: string; iterations: ClaimedIteration[] };

/**
 * Decides whether to flush a batch now and, if so, claims the iterations for it, all in one short
 * transaction. A transaction-scoped advisory lock makes concurrent submitters on other instances skip
 * rather than split one wave of iterations into many small batches. The batch row is the persisted
 * intent: it exists, leased by us, before the API is called.
 */
export async function claimBatchIterations(
  db: Queryable,
  t: Tables,
  a: { instanceId: string; maxRequests: number; flushIntervalMs: number; leaseMs: number },
): Promise<FlushDecision> {
  const { rows: lock } = await db.query<{ ok: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok`, [
    `agentpg:submit:${t.schema}`,
  ]);
  if (!lock[0]!.ok) return { kind: 'busy' };
  const { rows: due } = await db.query<{ n: unknown; oldest: unknown; now: unknown; next_due: unknown }>(
    `SELECT count(*) AS n, min(scheduled_at) AS oldest, now() AS now,
            (SELECT min(scheduled_at) FROM ${t.iterations} WHERE state = 'pending' AND mode = 'batch' AND scheduled_at > now()) AS next_due
     FROM (SELECT scheduled_at FROM ${t.iterations}
           WHERE state = 'pending' AND mode = 'batch' AND scheduled_at <= now()
           ORDER BY scheduled_at LIMIT $1) x`,
    [a.maxRequests],
  );
  const d = due[0]!;
  const n = num(d.n);
  const now = date(d.now).getTime();
  if (n === 0) return { kind: 'empty', nextDueInMs: d.next_due ? Math.max(0, date(d.next_due).getTime() - now) : null };
  const waited = now - date(d.oldest).getTime();
  if (n < a.maxRequests && waited < a.flushIntervalMs) return { kind: 'wait', inMs: a.flushIntervalMs - waited };
  const { rows } = await db.query<{ batch_id: string; id: string; run_id: string; attempt: unknown }>(
    `WITH pick AS MATERIALIZED (
       SELECT id FROM ${t.iterations}
       WHERE state = 'pending' AND mode = 'batch' AND scheduled_at <= now()
       ORDER BY scheduled_at LIMIT $2 FOR UPDATE SKIP LOCKED
     ), b AS (
       INSERT INTO ${t.batches} (request_count, lease_owner, lease_expires_at)
       SELECT count(*), $1, now() + $3 * interval '1 millisecond' FROM pick HAVING count(*) > 0
       RETURNING id
     ), it AS (
       UPDATE ${t.iterations} i SET state = 'submitting', batch_id = b.id, started_at = coalesce(i.started_at, now())
       FROM b, pick WHERE i.id = pick.id AND i.id = ANY(ARRAY(SELECT id FROM pick))
       RETURNING i.id, i.run_id, i.attempt, b.id AS batch_id
     ), r AS (
       UPDATE ${t.runs} SET state = 'batch_submitting', started_at = coalesce(started_at, now()), updated_at = now()
       -- id = ANY(ARRAY(...)): primary-key lookups of the claimed runs, never a scan of every pending run
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.id = ANY(ARRAY(SELECT run_id FROM it)) AND ${t.runs}.state = 'pending'
     )
     SELECT batch_id, id, run_id, attempt FROM it`,
    [a.instanceId, a.maxRequests, a.leaseMs],
  );
  if (rows.length === 0) return { kind: 'empty', nextDueInMs: null };
  return {
    kind: 'claimed',
    batchId: rows[0]!.batch_id,
    iterations: rows.map((r) => ({ iterationId: r.id, runId: r.run_id, attempt: num(r.attempt) })),
  };
}

/** Records the API's batch id. False when our lease was lost meanwhile (the iterations went back to the queue). */
export async function markBatchSubmitted(
  db: Queryable,
  t: Tables,
  a: { batchId: string; instanceId: string; anthropicBatchId: string; status: string; expiresAt: string | null; requestCount: number; pollIntervalMs: number },
): Promise<boolean> {
  const { rows } = await db.query<{ id: string }>(
    `WITH b AS (
       UPDATE ${t.batches} SET anthropic_batch_id = $3, state = 'in_progress', processing_status = $4, submitted_at = now(),
         expires_at = $5::timestamptz, request_count = $6, lease_owner = NULL, lease_expires_at = NULL,
         next_poll_at = now() + $7 * interval '1 millisecond'
       WHERE id = $1 AND state = 'submitting' AND lease_owner = $2
       RETURNING id
     ), it AS (
       UPDATE ${t.iterations} SET state = 'in_batch' FROM b
       WHERE ${t.iterations}.batch_id = b.id AND ${t.iterations}.state = 'submitting'
       RETURNING run_id
     ), r AS (
       UPDATE ${t.runs} SET state = 'batch_pending', updated_at = now()
       FROM it WHERE ${t.runs}.id = it.run_id AND ${t.runs}.id = ANY(ARRAY(SELECT run_id FROM it)) AND ${t.runs}.state = 'batch_submitting'
     )
     SELECT id FROM b`,
    [a.batchId, a.instanceId, a.anthropicBatchId, a.status, a.expiresAt, a.requestCount, a.pollIntervalMs],
  );
  return rows.length > 0;
}

/** Marks an intent that never reached the API (nothing left to submit, or the call failed). */
export async function abandonBatch(db: Queryable, t: Tables, batchId: string, instanceId: string, reason: string): Promise<void> {
  await db.query(
    `UPDATE ${t.batches} SET state = 'abandoned', error_message = $3, lease_owner = NULL, lease_expires_at = NULL
     WHERE id = $1 AND state = 'submitting' AND lease_owner = $2`,
    [batchId, instanceId, reason],
  );
}

export interface PollableBatch {
  id: string;
  anthropicBatchId: string;
}

/** Leases in-progress batches that are due for a poll; any instance may take over an expired lease. */
export async function claimBatchesToPoll(
  db: Queryable,
  t: Tables,
  a: { instanceId: string; limit: number; leaseMs: number },
): Promise<PollableBatch[]> {
  const { rows } = await db.query<{ id: string; anthropic_batch_id: string }>(
    `UPDATE ${t.batches} SET lease_owner = $1, lease_expires_at = now() + $3 * interval '1 millisecond', poll_count = poll_count + 1
     WHERE id IN (
       SELECT id FROM ${t.batches}
       WHERE state = 'in_progress' AND next_poll_at <= now() AND (lease_expires_at IS NULL OR lease_expires_at < now())
       ORDER BY next_poll_at LIMIT $2 FOR UPDATE SKIP LOCKED
     )
     RETURNING id, anthropic_batch_id`,
    [a.instanceId, a.limit, a.leaseMs],
  );
  return rows.map((r) => ({ id: r.id, anthropicBatchId: r.anthropic_batch_id }));
}

/**
 * Milliseconds until the next in-progress batch can be claimed for polling (null when none): when it is due and
 * nobody holds its lease. A batch another instance is polling is not due before that lease runs out, so pollers
 * wait instead of asking again and again while it works.
 */
export async function nextBatchPollInMs(db: Queryable, t: Tables): Promise<number | null> {
  const { rows } = await db.query<{ ms: unknown }>(
    `SELECT extract(epoch FROM (min(greatest(next_poll_at, coalesce(lease_expires_at, next_poll_at))) - now())) * 1000 AS ms
     FROM ${t.batches} WHERE state = 'in_progress'`,
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? null : Math.max(0, num(ms));
}

export async function releaseBatch(
  db: Queryable,
  t: Tables,
  a: { batchId: string; instanceId: string; status: string; nextPollInMs: number },
): Promise<void> {
  await db.query(
    `UPDATE ${t.batches} SET lease_owner = NULL, lease_expires_at = NULL, processing_status = $3,
       next_poll_at = now() + $4 * interval '1 millisecond'
     WHERE id = $1 AND lease_owner = $2`,
    [a.batchId, a.instanceId, a.status, a.nextPollInMs],
  );
}

/** Extends our poll lease while a long results file is being applied. False when it was lost. */
export async function renewBatchLease(db: Queryable, t: Tables, batchId: string, instanceId: string, leaseMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${t.batches} SET lease_expires_at = now() + $3 * interval '1 millisecond' WHERE id = $1 AND lease_owner = $2`,
    [batchId, instanceId, leaseMs],
  );
  return rowCount > 0;
}

/** The batch's results are all applied: close it and return the iterations that got no result line. */
export async function endBatch(db: Queryable, t: Tables, batchId: string, instanceId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string | null }>(
    `WITH b AS (
       UPDATE ${t.batches} SET state = 'ended', processing_status = 'ended', ended_at = now(),
         lease_owner = NULL, lease_expires_at = NULL
       WHERE id = $1 AND lease_owner = $2 AND state = 'in_progress'
       RETURNING id
     )
     SELECT i.id FROM b JOIN ${t.iterations} i ON i.batch_id = b.id AND i.state = 'in_batch'`,
    [batchId, instanceId],
  );
  return rows.map((r) => r.id!).filter(Boolean);
}

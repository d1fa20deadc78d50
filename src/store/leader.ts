import type { Queryable } from '../db/driver.js';
import { quoteIdent } from '../db/identifiers.js';
import type { Tables } from './tables.js';
import { date } from './convert.js';

/**
 * A leadership term: who leads and with which fencing token. Tokens come from a sequence, so every new term
 * (a first election, a take-over after expiry, a re-election after losing it) has a larger token than any
 * earlier one. Tokens are int8: kept as decimal strings, never JS numbers.
 */
export interface LeaderTerm {
  leaderId: string;
  token: string;
}

export interface LeaderRow extends LeaderTerm {
  electedAt: Date;
  expiresAt: Date;
  /** Whether the lease is still running by the database's clock. */
  live: boolean;
}

/**
 * A SQL condition that holds only while `term` leads with an unexpired lease. Every maintenance write
 * includes it, so a leader that was paused past its lease (and replaced) can no longer change anything.
 * `idParam` and `tokenParam` are the placeholders carrying the term's leader id and token.
 */
export function leaderFence(t: Tables, idParam: string, tokenParam: string): string {
  return `EXISTS (SELECT 1 FROM ${t.leader} WHERE name = 'default' AND leader_id = ${idParam} AND fencing_token = ${tokenParam}::bigint AND expires_at > now())`;
}

/**
 * Becomes leader when nobody is, or when the current lease has expired; returns the new term's token, or null
 * when another instance holds a live lease. Concurrent candidates serialise on the row: exactly one wins.
 * A new token is drawn only when the seat looks free, so idle candidates do not burn the sequence.
 */
export async function acquireLeadership(db: Queryable, t: Tables, leaderId: string, ttlMs: number): Promise<string | null> {
  const seq = `${quoteIdent(t.schema)}.leader_fencing_seq`;
  const { rows } = await db.query<{ fencing_token: unknown }>(
    `INSERT INTO ${t.leader} AS l (name, leader_id, fencing_token, expires_at)
     SELECT 'default', $1, nextval('${seq}'::regclass), now() + $2 * interval '1 millisecond'
     WHERE NOT EXISTS (SELECT 1 FROM ${t.leader} WHERE name = 'default' AND expires_at > now())
     ON CONFLICT (name) DO UPDATE
       SET leader_id = excluded.leader_id, fencing_token = excluded.fencing_token, elected_at = now(), expires_at = excluded.expires_at
       WHERE l.expires_at <= now()
     RETURNING fencing_token`,
    [leaderId, ttlMs],
  );
  return rows[0] ? String(rows[0].fencing_token) : null;
}

/**
 * Extends the lease of `term`. False when the term is over (another instance took the seat, or the row is
 * gone): the caller must stop acting as leader at once. A lease that ran out while nobody took over is
 * extended under the same token, which is safe: no other leader existed in between.
 */
export async function renewLeadership(db: Queryable, t: Tables, term: LeaderTerm, ttlMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${t.leader} SET expires_at = now() + $3 * interval '1 millisecond'
     WHERE name = 'default' AND leader_id = $1 AND fencing_token = $2::bigint`,
    [term.leaderId, term.token, ttlMs],
  );
  return rowCount > 0;
}

/** Gives the seat up (graceful stop), so another instance is elected at its next attempt instead of after the TTL. */
export async function releaseLeadership(db: Queryable, t: Tables, term: LeaderTerm): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM ${t.leader} WHERE name = 'default' AND leader_id = $1 AND fencing_token = $2::bigint`, [
    term.leaderId,
    term.token,
  ]);
  return rowCount > 0;
}

/** The current (or last) term, if any. */
export async function getLeader(db: Queryable, t: Tables): Promise<LeaderRow | null> {
  const { rows } = await db.query<{ leader_id: string; fencing_token: unknown; elected_at: unknown; expires_at: unknown; live: boolean }>(
    `SELECT leader_id, fencing_token, elected_at, expires_at, expires_at > now() AS live FROM ${t.leader} WHERE name = 'default'`,
  );
  const r = rows[0];
  if (!r) return null;
  return { leaderId: r.leader_id, token: String(r.fencing_token), electedAt: date(r.elected_at), expiresAt: date(r.expires_at), live: r.live };
}

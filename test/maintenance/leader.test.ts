import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPG } from '../../src/client.js';
import { tables } from '../../src/store/tables.js';
import { acquireLeadership, getLeader, releaseLeadership, renewLeadership } from '../../src/store/leader.js';
import { deleteDeadInstances, requeueExpiredToolExecutions } from '../../src/store/rescue.js';
import { migratedDb, type MigratedDb } from '../support/client.js';
import { waitFor } from '../support/db.js';

let m: MigratedDb;
const t = tables('agentpg');
const TTL = 60_000;

beforeAll(async () => {
  m = await migratedDb();
});
afterAll(async () => {
  await m?.close();
});

async function expireSeat(): Promise<void> {
  await m.pool.query(`UPDATE agentpg.leader SET expires_at = now() - interval '1 second'`);
}

describe('leader election (store)', () => {
  it('elects exactly one of many concurrent candidates', async () => {
    await m.pool.query(`DELETE FROM agentpg.leader`);
    const ids = Array.from({ length: 12 }, (_, i) => `candidate-${i}`);
    const tokens = await Promise.all(ids.map((id) => acquireLeadership(m.driver, t, id, TTL)));
    const winners = ids.filter((_, i) => tokens[i] !== null);
    expect(winners).toHaveLength(1);
    const seat = await getLeader(m.driver, t);
    expect(seat).toMatchObject({ leaderId: winners[0], token: tokens.find((x) => x !== null), live: true });
    // While the lease runs, nobody else gets the seat, and asking again does not burn a token.
    expect(await acquireLeadership(m.driver, t, 'late-candidate', TTL)).toBeNull();
    expect((await getLeader(m.driver, t))!.token).toBe(seat!.token);
  });

  it('gives every new term a larger token; a deposed leader can neither renew nor write', async () => {
    await m.pool.query(`DELETE FROM agentpg.leader`);
    const a = { leaderId: 'leader-a', token: (await acquireLeadership(m.driver, t, 'leader-a', TTL))! };
    expect(a.token).not.toBeNull();
    expect(await renewLeadership(m.driver, t, a, TTL)).toBe(true);

    // A is paused past its lease; B takes over with a larger token.
    await expireSeat();
    const b = { leaderId: 'leader-b', token: (await acquireLeadership(m.driver, t, 'leader-b', TTL))! };
    expect(b.token).not.toBeNull();
    expect(BigInt(b.token)).toBeGreaterThan(BigInt(a.token));
    expect(await renewLeadership(m.driver, t, a, TTL)).toBe(false);

    // A stale leader's maintenance writes are fenced off; the current leader's go through.
    await m.pool.query(`INSERT INTO agentpg.instances (id, name, hostname, pid, version, max_concurrent_runs, max_concurrent_tools, last_heartbeat_at)
                        VALUES ('ghost', 'ghost', 'h', 1, '0', 1, 1, now() - interval '1 hour')`);
    expect(await deleteDeadInstances(m.driver, t, a, 1000)).toEqual([]);
    expect(await requeueExpiredToolExecutions(m.driver, t, a)).toBe(0);
    expect((await m.pool.query(`SELECT 1 FROM agentpg.instances WHERE id = 'ghost'`)).rowCount).toBe(1);
    expect(await deleteDeadInstances(m.driver, t, b, 1000)).toEqual(['ghost']);

    // Even A re-elected later gets a new, larger token: its old term stays dead.
    expect(await releaseLeadership(m.driver, t, a)).toBe(false);
    expect(await releaseLeadership(m.driver, t, b)).toBe(true);
    const a2 = (await acquireLeadership(m.driver, t, 'leader-a', TTL))!;
    expect(BigInt(a2)).toBeGreaterThan(BigInt(b.token));
    expect(await deleteDeadInstances(m.driver, t, a, 1000)).toEqual([]);
  });

  it('an expired lease that nobody took over is renewed under the same token', async () => {
    await m.pool.query(`DELETE FROM agentpg.leader`);
    const a = { leaderId: 'leader-a', token: (await acquireLeadership(m.driver, t, 'leader-a', TTL))! };
    await expireSeat();
    // The fence refuses writes while the lease is expired ...
    expect(await deleteDeadInstances(m.driver, t, a, 1000)).toEqual([]);
    // ... and the renewal brings the same term back (no other leader existed in between).
    expect(await renewLeadership(m.driver, t, a, TTL)).toBe(true);
    expect((await getLeader(m.driver, t))!.token).toBe(a.token);
  });
});

describe('leader election (clients)', () => {
  it('one client leads; when it stops another takes over with a larger token', async () => {
    await m.pool.query(`DELETE FROM agentpg.leader`);
    const fast = { leaderTtlMs: 300, heartbeatIntervalMs: 100, instanceTtlMs: 1000, runPollIntervalMs: 250, toolPollIntervalMs: 250 };
    const clients = [0, 1, 2].map((i) => new AgentPG({ driver: m.driver, name: `c${i}`, ...fast }));
    await Promise.all(clients.map((c) => c.start()));
    try {
      const first = await waitFor(async () => {
        const seat = await getLeader(m.driver, t);
        const leaders = clients.filter((c) => c.isLeader);
        return seat?.live && leaders.length === 1 && leaders[0]!.instanceId === seat.leaderId ? { seat, leader: leaders[0]! } : null;
      }, { message: 'one leader' });
      // It stays the only leader across several renewals.
      await new Promise((r) => setTimeout(r, 700));
      expect(clients.filter((c) => c.isLeader).map((c) => c.instanceId)).toEqual([first.leader.instanceId]);
      expect((await getLeader(m.driver, t))!.token).toBe(first.seat.token);

      await first.leader.stop();
      const second = await waitFor(async () => {
        const seat = await getLeader(m.driver, t);
        const leaders = clients.filter((c) => c.isLeader);
        return seat?.live && leaders.length === 1 && leaders[0] !== first.leader ? seat : null;
      }, { message: 'a new leader' });
      expect(BigInt(second.token)).toBeGreaterThan(BigInt(first.seat.token));
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
    }
  });
});

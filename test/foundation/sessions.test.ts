import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPG } from '../../src/client.js';
import { InUseError, NotFoundError, ValidationError } from '../../src/errors.js';
import { insertMessage } from '../../src/store/messages.js';
import { tables } from '../../src/store/tables.js';
import { countingQueryable, countRows, migratedDb, type MigratedDb } from '../support/client.js';

let m: MigratedDb;
let client: AgentPG<import('pg').PoolClient>;

beforeAll(async () => {
  m = await migratedDb();
  client = new AgentPG({ driver: m.driver });
});
afterAll(async () => {
  await m.close();
});

describe('sessions', () => {
  it('creates sessions with metadata and derives depth from the parent', async () => {
    const root = await client.newSession({ metadata: { tenant_id: 't1', user_id: 'u1' } });
    const child = await client.newSession({ parentSessionId: root });
    const grandchild = await client.newSession({ parentSessionId: child, metadata: { step: 3 } });
    expect(await client.getSession(root)).toMatchObject({ depth: 0, parentSessionId: null, metadata: { tenant_id: 't1', user_id: 'u1' } });
    expect(await client.getSession(grandchild)).toMatchObject({ depth: 2, parentSessionId: child, metadata: { step: 3 } });
    // No metadata is stored as {}, never JSON null.
    expect((await client.getSession(child)).metadata).toEqual({});
  });

  it('rejects bad input with typed errors and writes nothing', async () => {
    const before = await countRows(m.driver, 'sessions');
    await expect(client.newSession({ parentSessionId: '00000000-0000-4000-8000-000000000000' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.newSession({ parentSessionId: 'nope' })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.newSession({ metadata: 'tenant' as never })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.newSession({ metadata: { f: () => 1 } as never })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.getSession('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
    expect(await countRows(m.driver, 'sessions')).toBe(before);
  });

  it('newSessionTx writes inside the caller transaction: visible after commit, gone after rollback', async () => {
    const c = await m.pool.connect();
    try {
      await c.query('BEGIN');
      const kept = await client.newSessionTx(c, { metadata: { tx: 'commit' } });
      await expect(client.getSession(kept)).rejects.toBeInstanceOf(NotFoundError);
      await c.query('COMMIT');
      expect((await client.getSession(kept)).metadata).toEqual({ tx: 'commit' });

      await c.query('BEGIN');
      const dropped = await client.newSessionTx(c, { metadata: { tx: 'rollback' } });
      await c.query('ROLLBACK');
      await expect(client.getSession(dropped)).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      c.release();
    }
  });

  it('lists sessions by metadata with order, paging and a total', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await client.newSession({ metadata: { tenant_id: 'list', n: i } }));
    await client.newSession({ metadata: { tenant_id: 'other' } });
    const newest = await client.listSessions({ metadata: { tenant_id: 'list' }, limit: 3 });
    expect(newest.total).toBe(4);
    expect(newest.items.map((s) => s.id)).toEqual([ids[3], ids[2], ids[1]]);
    const oldest = await client.listSessions({ metadata: { tenant_id: 'list' }, order: 'created_asc', limit: 2, offset: 1 });
    expect(oldest.items.map((s) => s.id)).toEqual([ids[1], ids[2]]);
    await client.updateSession(ids[0]!, { metadata: { tenant_id: 'list', touched: true } });
    const updated = await client.listSessions({ metadata: { tenant_id: 'list' }, order: 'updated_desc', limit: 1 });
    expect(updated.items[0]!.id).toBe(ids[0]);
    await expect(client.listSessions({ order: 'sideways' as never })).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses to delete a session with unfinished runs unless forced', async () => {
    const agent = await client.createAgent({ name: 'sess-agent', model: 'm' });
    const s = await client.newSession();
    await m.pool.query(`INSERT INTO agentpg.runs (session_id, agent_id, mode, prompt, max_iterations) VALUES ($1, $2, 'batch', '[]', 5)`, [
      s,
      agent.id,
    ]);
    await expect(client.deleteSession(s)).rejects.toBeInstanceOf(InUseError);
    await client.deleteSession(s, { force: true });
    await expect(client.getSession(s)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('returns messages with all their content blocks in one query, in order, with paging', async () => {
    const s = await client.newSession();
    const t = tables('agentpg');
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const role = i % 2 === 0 ? 'user' : 'assistant';
      const content =
        role === 'user'
          ? [{ type: 'text' as const, text: `question ${i}` }]
          : [
              { type: 'thinking' as const, thinking: `hmm ${i}`, signature: `sig-${i}` },
              { type: 'text' as const, text: `answer ${i}`, citations: null },
              { type: 'tool_use' as const, id: `toolu_${i}`, name: 'lookup', input: { q: i, nested: { ok: true } } },
            ];
      ids.push((await insertMessage(m.driver, t, { sessionId: s, runId: null, iterationId: null, role, content })).id);
    }
    const counter = countingQueryable(m.driver);
    const scoped = new AgentPG({ driver: { ...m.driver, query: counter.query.bind(counter) } as typeof m.driver });
    const all = await scoped.getSessionMessages(s);
    expect(counter.count).toBe(1);
    expect(all).toHaveLength(30);
    expect(all.map((x) => x.id)).toEqual(ids);
    expect(all[1]!.content).toEqual([
      { type: 'thinking', thinking: 'hmm 1', signature: 'sig-1' },
      { type: 'text', text: 'answer 1', citations: null },
      { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 1, nested: { ok: true } } },
    ]);
    const latest = await client.getSessionMessages(s, { limit: 5 });
    expect(latest.map((x) => x.id)).toEqual(ids.slice(25));
    const older = await client.getSessionMessages(s, { limit: 5, before: ids[25] });
    expect(older.map((x) => x.id)).toEqual(ids.slice(20, 25));
    await expect(client.getSessionMessages('00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
  });
});

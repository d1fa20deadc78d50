import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPG } from '../../src/client.js';
import { ConflictError, InUseError, NotFoundError, ValidationError } from '../../src/errors.js';
import { countRows, migratedDb, type MigratedDb } from '../support/client.js';

let m: MigratedDb;
let client: AgentPG;

beforeAll(async () => {
  m = await migratedDb();
  client = new AgentPG({ driver: m.driver });
});
afterAll(async () => {
  await m.close();
});

const base = { model: 'claude-haiku-5-5', systemPrompt: 'You help.' };

describe('agents', () => {
  it('creates an agent row with a UUID and every field', async () => {
    const helper = await client.createAgent({ name: 'helper', ...base });
    const agent = await client.createAgent({
      name: 'assistant',
      description: 'General assistant',
      ...base,
      tools: ['calculator', 'get_weather'],
      agentIds: [helper.id],
      maxTokens: 2048,
      metadata: { tenant_id: 't1', tier: 2, flags: [true, null] },
      config: { temperature_hint: 'low' },
    });
    expect(agent.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(agent).toMatchObject({
      name: 'assistant',
      description: 'General assistant',
      model: 'claude-haiku-5-5',
      systemPrompt: 'You help.',
      tools: ['calculator', 'get_weather'],
      agentIds: [helper.id],
      maxTokens: 2048,
      metadata: { tenant_id: 't1', tier: 2, flags: [true, null] },
      config: { temperature_hint: 'low' },
    });
    expect(await client.getAgent(agent.id)).toEqual(agent);
  });

  it('rejects invalid definitions with typed errors and writes nothing', async () => {
    const before = await countRows(m.driver, 'agents');
    const bad: unknown[] = [
      { name: 'has space', ...base },
      { name: 'x'.repeat(65), ...base },
      { name: '', ...base },
      { name: 'ok', model: '' },
      { name: 'ok', ...base, tools: ['bad tool'] },
      { name: 'ok', ...base, maxTokens: 0 },
      { name: 'ok', ...base, metadata: ['not', 'an', 'object'] },
      { name: 'ok', ...base, metadata: { when: new Date() } },
      { name: 'ok', ...base, metadata: { n: Number.NaN } },
      { name: 'ok', ...base, agentIds: ['not-a-uuid'] },
      { name: 'ok', ...base, unknownField: 1 },
    ];
    for (const def of bad) {
      const err = await client.createAgent(def as never).catch((e) => e);
      expect(err, JSON.stringify(def)).toBeInstanceOf(ValidationError);
      expect(err.code).toBe('invalid_argument');
    }
    await expect(client.createAgent({ name: 'ok', ...base, agentIds: ['00000000-0000-4000-8000-000000000000'] })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    expect(await countRows(m.driver, 'agents')).toBe(before);
  });

  it('rejects a second agent with the same name and metadata, but not another tenant', async () => {
    await client.createAgent({ name: 'dup', ...base, metadata: { tenant_id: 'a', x: 1 } });
    // Key order does not matter: metadata is compared as JSON.
    await expect(client.createAgent({ name: 'dup', ...base, metadata: { x: 1, tenant_id: 'a' } })).rejects.toBeInstanceOf(ConflictError);
    await expect(client.createAgent({ name: 'dup', ...base, metadata: { tenant_id: 'b', x: 1 } })).resolves.toMatchObject({ name: 'dup' });
  });

  it('getOrCreateAgent is atomic: 20 concurrent callers get the same single row', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => client.getOrCreateAgent({ name: 'racer', ...base, metadata: { tenant_id: 'race' } })),
    );
    expect(new Set(results.map((a) => a.id)).size).toBe(1);
    const { rows } = await m.pool.query(`SELECT count(*)::int AS n FROM agentpg.agents WHERE name = 'racer'`);
    expect(rows[0].n).toBe(1);
  });

  it('getAgentByName matches the tenant exactly and never crosses tenants', async () => {
    const a = await client.createAgent({ name: 'support', ...base, metadata: { tenant_id: 'tenant-1' } });
    const b = await client.createAgent({ name: 'support', ...base, metadata: { tenant_id: 'tenant-2' } });
    await client.createAgent({ name: 'support', ...base, metadata: { tenant_id: 'tenant-1', region: 'eu' } });
    expect((await client.getAgentByName('support', { tenant_id: 'tenant-1' })).id).toBe(a.id);
    expect((await client.getAgentByName('support', { tenant_id: 'tenant-2' })).id).toBe(b.id);
    // No metadata means the agent without metadata, not "any tenant".
    await expect(client.getAgentByName('support')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.getAgentByName('support', { tenant_id: 'tenant-3' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.getAgentByName('bad name')).rejects.toBeInstanceOf(ValidationError);
  });

  it('lists agents by metadata containment with a total', async () => {
    for (let i = 0; i < 5; i++) await client.createAgent({ name: `lister-${i}`, ...base, metadata: { team: 'x', i } });
    const page = await client.listAgents({ metadata: { team: 'x' }, limit: 2, offset: 1 });
    expect(page.total).toBe(5);
    expect(page.items.map((a) => a.name)).toEqual(['lister-1', 'lister-2']);
    expect((await client.listAgents({ metadata: { team: 'x' }, offset: 10 })).total).toBe(5);
    await expect(client.listAgents({ limit: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('updateAgent patches only the given fields', async () => {
    const a = await client.createAgent({ name: 'patchme', ...base, tools: ['t1'], maxTokens: 100, metadata: { k: 1 } });
    const u = await client.updateAgent(a.id, { description: 'new', maxTokens: null });
    expect(u).toMatchObject({ name: 'patchme', description: 'new', tools: ['t1'], maxTokens: null, metadata: { k: 1 }, model: base.model });
    expect(u.updatedAt.getTime()).toBeGreaterThanOrEqual(a.updatedAt.getTime());
    await expect(client.updateAgent(a.id, { name: 'bad name' })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.updateAgent(a.id, { agentIds: [a.id] })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.updateAgent('00000000-0000-4000-8000-000000000000', { description: 'x' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.getAgent('nope')).rejects.toBeInstanceOf(ValidationError);
    expect(await client.getAgent(a.id)).toMatchObject({ description: 'new' });
  });

  it('deleteAgent refuses while runs or delegating agents reference it', async () => {
    const worker = await client.createAgent({ name: 'del-worker', ...base });
    const boss = await client.createAgent({ name: 'del-boss', ...base, agentIds: [worker.id] });
    await expect(client.deleteAgent(worker.id)).rejects.toBeInstanceOf(InUseError);
    const session = await client.newSession();
    await m.pool.query(
      `INSERT INTO agentpg.runs (session_id, agent_id, mode, prompt, max_iterations) VALUES ($1, $2, 'batch', '[]', 5)`,
      [session, boss.id],
    );
    const err = await client.deleteAgent(boss.id).catch((e) => e);
    expect(err).toBeInstanceOf(InUseError);
    expect(err.message).toMatch(/has runs/);
    await client.deleteSession(session, { force: true });
    await client.deleteAgent(boss.id);
    await client.deleteAgent(worker.id);
    await expect(client.getAgent(worker.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.deleteAgent(worker.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

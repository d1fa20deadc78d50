import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AgentPG } from '../../src/client.js';
import { ConfigError, ConflictError, LifecycleError, ValidationError } from '../../src/errors.js';
import { defineTool } from '../../src/tools/define.js';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { migratedDb, type MigratedDb } from '../support/client.js';
import { createTestDatabase } from '../support/db.js';

let m: MigratedDb;
beforeAll(async () => {
  m = await migratedDb();
});
afterAll(async () => {
  await m.close();
});

const weather = defineTool({
  name: 'get_weather',
  description: 'Get the current weather for a city',
  input: z.object({
    city: z.string().describe('City name'),
    unit: z.enum(['celsius', 'fahrenheit']).default('celsius'),
    days: z.number().int().min(1).max(7).optional(),
  }),
  execute: ({ city, unit }) => `Sunny in ${city} (${unit})`,
});

describe('config', () => {
  it('rejects bad values with one ConfigError naming each problem', () => {
    const err = (() => {
      try {
        new AgentPG({ driver: m.driver, schema: 'Bad-Schema', maxConcurrentTools: -1, batch: { pollIntervalMs: 0 }, bogus: 1 } as never);
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.code).toBe('invalid_config');
    expect(err!.message).toMatch(/schema/);
    expect(err!.message).toMatch(/maxConcurrentTools/);
    expect(err!.message).toMatch(/batch\.pollIntervalMs/);
    expect(err!.message).toMatch(/bogus/);
    expect(() => new AgentPG({} as never)).toThrow(/driver/);
    expect(() => new AgentPG({ driver: m.driver, toolRetry: { initialDelayMs: 10, maxDelayMs: 5 } })).toThrow(ConfigError);
  });

  it('applies defaults', () => {
    const c = new AgentPG({ driver: m.driver }).config;
    expect(c).toMatchObject({ schema: 'agentpg', maxConcurrentTools: 50, maxConcurrentStreamingRuns: 5, defaultMaxTokens: 4096 });
    expect(c.instanceId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('tools', () => {
  it('defineTool turns a zod schema into the full JSON Schema and validates input', () => {
    expect(weather.inputSchema).toMatchObject({
      type: 'object',
      properties: { city: { type: 'string', description: 'City name' }, unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
      required: ['city'],
    });
    expect(weather.inputSchema).not.toHaveProperty('$schema');
    expect(weather.validate({ city: 'Paris' })).toEqual({ ok: true, value: { city: 'Paris', unit: 'celsius' } });
    const bad = weather.validate({ city: 3, days: 9 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.path).sort()).toEqual(['city', 'days']);
  });

  it('defineTool accepts a plain JSON Schema and validates with it', () => {
    const tool = defineTool<{ a: number; b: number }>({
      name: 'add',
      description: 'Add two numbers',
      input: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'], additionalProperties: false },
      execute: ({ a, b }) => a + b,
    });
    expect(tool.validate({ a: 1, b: 2 })).toEqual({ ok: true, value: { a: 1, b: 2 } });
    const r = tool.validate({ a: 1, c: 2 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.map((i) => i.path)).toContain('b');
  });

  it('defineTool rejects bad definitions', () => {
    expect(() => defineTool({ name: 'bad name', description: '', input: z.object({}), execute: () => '' })).toThrow(ValidationError);
    expect(() => defineTool({ name: 'x', description: '', input: { type: 'array' } as never, execute: () => '' })).toThrow(/type "object"/);
    expect(() => defineTool({ name: 'x', description: '', input: z.string() as never, execute: () => '' })).toThrow(ValidationError);
    expect(() => defineTool({ name: 'x', description: '', input: z.object({}), execute: () => '', timeoutMs: -5 })).toThrow(/timeoutMs/);
  });

  it('registerTool rejects duplicates and registration after start', async () => {
    const client = new AgentPG({ driver: m.driver });
    client.registerTool(weather);
    expect(() => client.registerTool(weather)).toThrow(ConflictError);
    await client.start();
    try {
      expect(() => client.registerTool(defineTool({ name: 'late', description: '', input: z.object({}), execute: () => '' }))).toThrow(
        LifecycleError,
      );
    } finally {
      await client.stop();
    }
  });
});

describe('lifecycle', () => {
  it('start() writes the instance and its tools; stop() removes the instance', async () => {
    const client = new AgentPG({ driver: m.driver, name: 'worker-a', metadata: { zone: 'z1' } });
    client.registerTool(weather);
    await client.start();
    const { rows } = await m.pool.query(`SELECT name, metadata, pid FROM agentpg.instances WHERE id = $1`, [client.instanceId]);
    expect(rows).toEqual([{ name: 'worker-a', metadata: { zone: 'z1' }, pid: process.pid }]);
    const tools = await m.pool.query(
      `SELECT t.name, t.description, t.input_schema FROM agentpg.instance_tools it JOIN agentpg.tools t ON t.name = it.tool_name WHERE it.instance_id = $1`,
      [client.instanceId],
    );
    expect(tools.rows).toEqual([{ name: 'get_weather', description: 'Get the current weather for a city', input_schema: weather.inputSchema }]);
    await expect(client.start()).rejects.toBeInstanceOf(LifecycleError);
    await client.stop();
    await client.stop();
    const after = await m.pool.query(`SELECT 1 FROM agentpg.instances WHERE id = $1`, [client.instanceId]);
    expect(after.rowCount).toBe(0);
  });

  it('start() on an unmigrated schema fails clearly; autoMigrate migrates', async () => {
    const db = await createTestDatabase('auto');
    const driver = pgDriver(db.url);
    try {
      const plain = new AgentPG({ driver });
      await expect(plain.start()).rejects.toThrow(/missing migration\(s\) 1.*agentpg migrate/);
      const auto = new AgentPG({ driver, autoMigrate: true, schema: 'custom_schema' });
      await auto.start();
      await auto.stop();
      const { rows } = await driver.query<{ n: number }>(`SELECT count(*)::int AS n FROM custom_schema.schema_migrations`);
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await driver.close();
      await db.drop();
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import postgres from 'postgres';
import { PGlite } from '@electric-sql/pglite';
import { reply, startEmulator } from '../../src/emulator/index.js';
import { defineTool } from '../../src/tools/define.js';
import { AgentPG } from '../../src/client.js';
import { migrate } from '../../src/db/migrate.js';
import { postgresDriver } from '../../src/db/drivers/postgresjs.js';
import { pgliteDriver } from '../../src/db/drivers/pglite.js';
import { claimBatchIterations } from '../../src/store/batches.js';
import { tables } from '../../src/store/tables.js';
import { ValidationError } from '../../src/errors.js';
import { engineEnv, FAST, integrityProblems, type EngineEnv } from '../support/engine.js';
import { waitFor } from '../support/db.js';

let env: EngineEnv;
let client: AgentPG<import('pg').PoolClient>;
let inFlight = 0;
let peak = 0;
let timedOutSignal: AbortSignal | null = null;

// A 1x1 transparent PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

beforeAll(async () => {
  env = await engineEnv();
  client = env.client({ maxConcurrentTools: 2 });
  client.registerTool(
    defineTool({
      name: 'crowded',
      description: 'Counts how many of its calls run at once',
      input: z.object({}),
      execute: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        // Wait for company (at most two may ever be here), then leave.
        await waitFor(() => peak >= 2, { timeoutMs: 3000 }).catch(() => {});
        await new Promise((r) => setTimeout(r, 30));
        inFlight--;
        return 'ok';
      },
    }),
  );
  client.registerTool(
    defineTool({
      name: 'sluggish',
      description: 'Never finishes on its own',
      input: z.object({}),
      timeoutMs: 150,
      maxAttempts: 1,
      execute: (_i, ctx) => {
        timedOutSignal = ctx.signal;
        return new Promise(() => {});
      },
    }),
  );
  await client.start();
});
afterAll(async () => env?.close());

const agent = (name: string, extra: Record<string, unknown> = {}) =>
  client.createAgent({ name, model: 'claude-haiku-5-5', systemPrompt: `You are ${name}.`, ...extra });
const lastRequest = (system: string) =>
  env.emu.requests.all().filter((r) => r.method === 'POST' && JSON.stringify(r.body).includes(system)).at(-1)!.body as Record<string, any>;

describe('run API', () => {
  it('takes image and document prompts, instructions, metadata, and lists runs', async () => {
    const a = await agent('vision_bot');
    const s = await client.newSession();
    const prompt = [
      { type: 'text' as const, text: 'What is in this picture and this note?' },
      { type: 'image' as const, source: { type: 'base64' as const, media_type: 'image/png' as const, data: PNG } },
      { type: 'document' as const, source: { type: 'text' as const, media_type: 'text/plain' as const, data: 'A short note.' } },
    ];
    const res = await client.runFastSync(s, a.id, prompt, { appendInstructions: 'Answer in French.', metadata: { ticket: 42 }, timeoutMs: 20_000 });
    const body = env.emu.requests.all().filter((r) => r.path === '/v1/messages').at(-1)!.body as Record<string, any>;
    expect(body.messages[0].content).toEqual(prompt);
    expect(body.system).toBe('You are vision_bot.\n\nAnswer in French.');
    expect((await client.getRun(res.runId)).metadata).toEqual({ ticket: 42 });

    await client.runFastSync(s, a.id, 'again', { overrideInstructions: 'Only say yes.', timeoutMs: 20_000 });
    expect(lastRequest('Only say yes.').system).toBe('Only say yes.');

    const page = await client.listRuns({ sessionId: s, state: 'completed', limit: 1 });
    expect(page.total).toBe(2);
    expect(page.items).toHaveLength(1);
    expect((await client.listRuns({ agentId: a.id, state: ['failed', 'cancelled'] })).total).toBe(0);
    await expect(client.run(s, a.id, '')).rejects.toBeInstanceOf(ValidationError);
    await expect(client.run(s, a.id, [{ type: 'image' } as never])).rejects.toBeInstanceOf(ValidationError);
    await expect(client.run(s, a.id, 'x', { maxIterations: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.run(s, a.id, 'x', { variables: { d: new Date() } as never })).rejects.toBeInstanceOf(ValidationError);
  });

  it('returns the same run for the same idempotency key', async () => {
    const a = await agent('idem_bot');
    const s = await client.newSession();
    const [x, y] = await Promise.all([client.run(s, a.id, 'once', { idempotencyKey: 'order-7' }), client.run(s, a.id, 'once', { idempotencyKey: 'order-7' })]);
    expect(x).toBe(y);
    expect((await client.listRuns({ sessionId: s })).total).toBe(1);
  });

  it('sends thinking blocks back with their signature intact', async () => {
    const a = await agent('thinker', { tools: ['crowded'] });
    env.emu.script({ system: 'You are thinker.' }, reply.thinking('Let me count.', reply.toolUse('crowded', {})), 'counted');
    const res = await client.runSync(await client.newSession(), a.id, 'think', { timeoutMs: 20_000 });
    expect(res.text).toBe('counted');
    const second = lastRequest('You are thinker.');
    const assistant = (second.requests?.[0]?.params ?? second).messages[1];
    expect(assistant.content[0]).toMatchObject({ type: 'thinking', thinking: 'Let me count.', signature: expect.any(String) });
  });

  it('never runs more tools at once than maxConcurrentTools', async () => {
    const a = await agent('crowd_bot', { tools: ['crowded'] });
    env.emu.script({ system: 'You are crowd_bot.' }, reply.toolUses(Array.from({ length: 6 }, () => ({ name: 'crowded' }))), 'all done');
    peak = 0;
    const res = await client.runFastSync(await client.newSession(), a.id, 'crowd', { timeoutMs: 20_000 });
    expect(res.toolCalls.every((c) => c.output === 'ok')).toBe(true);
    expect(peak).toBe(2);
  });

  it('times a tool out, aborts its signal, and answers with an error result', async () => {
    const a = await agent('slow_tool_bot', { tools: ['sluggish'] });
    env.emu.script({ system: 'You are slow_tool_bot.' }, reply.toolUse('sluggish', {}), 'gave up');
    const res = await client.runFastSync(await client.newSession(), a.id, 'go', { timeoutMs: 20_000 });
    expect(res.toolCalls[0]).toMatchObject({ state: 'failed', isError: true });
    expect(String(res.toolCalls[0]!.output)).toMatch(/timed out after 150 ms/);
    expect(timedOutSignal?.aborted).toBe(true);
  });
});

describe('crash safety of batch submission and polling', () => {
  it('requeues an intent whose submitter died before recording the batch id, without duplicates', async () => {
    await migrate(env.m.driver, { schema: 'crash' });
    const idle = new AgentPG({ driver: env.m.driver, schema: 'crash' });
    const a = await idle.createAgent({ name: 'crash_bot', model: 'claude-haiku-5-5' });
    const runId = await idle.run(await idle.newSession(), a.id, 'survive');
    // A submitter claims the iteration (the intent is committed) and dies before the API answers.
    const claimed = await env.m.driver.transaction((tx) =>
      claimBatchIterations(tx, tables('crash'), { instanceId: 'dead-submitter', maxRequests: 10, flushIntervalMs: 0, leaseMs: 300 }),
    );
    expect(claimed.kind).toBe('claimed');
    expect((await idle.getRun(runId)).state).toBe('batch_submitting');
    // The rescuer runs every quarter lease: a short lease makes it notice the dead submitter quickly.
    const worker = env.client({ schema: 'crash', leaseMs: 1000 });
    await worker.start();
    const res = await worker.waitForRun(runId, { timeoutMs: 20_000 });
    expect(res.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    const { rows } = await env.m.pool.query(`SELECT state, count(*)::int AS n FROM crash.batches GROUP BY state ORDER BY state`);
    expect(rows).toEqual([
      { state: 'abandoned', n: 1 },
      { state: 'ended', n: 1 },
    ]);
    await worker.stop();
  });

  it('lets another poller take over a batch whose poller stopped renewing its lease', async () => {
    const a = await agent('takeover_bot');
    env.emu.fault({ kind: 'batch_latency', ms: 400 }, { match: { system: 'You are takeover_bot.' } });
    const runId = await client.run(await client.newSession(), a.id, 'take over');
    await waitFor(async () => (await client.getRun(runId)).state === 'batch_pending', { timeoutMs: 20_000, message: 'batch submitted' });
    // A poller leases the batch and dies: nobody may poll it until that lease expires, then anyone can. The live
    // poller holds the lease for a moment while it polls, so the dead one takes it as soon as it is free.
    await waitFor(
      async () =>
        (
          await env.m.pool.query(
            `UPDATE agentpg.batches SET lease_owner = 'dead-poller', lease_expires_at = now() + interval '500 milliseconds', next_poll_at = now()
             WHERE state = 'in_progress' AND id = (SELECT batch_id FROM agentpg.iterations WHERE run_id = $1) AND lease_owner IS NULL`,
            [runId],
          )
        ).rowCount === 1,
      { timeoutMs: 5_000, message: 'the dead poller took the lease while the batch was in progress' },
    );
    const res = await client.waitForRun(runId, { timeoutMs: 20_000 });
    expect(res.iterationCount).toBe(1);
    const { rows } = await env.m.pool.query(
      `SELECT b.state, b.poll_count FROM agentpg.batches b JOIN agentpg.iterations i ON i.batch_id = b.id WHERE i.run_id = $1`,
      [runId],
    );
    expect(rows[0].state).toBe('ended');
    expect(await integrityProblems(env.m.driver)).toEqual([]);
  });
});

describe('runTx with each driver', () => {
  it('postgres.js: a run created in sql.begin() is seen at commit and gone on rollback', async () => {
    const sql = postgres(env.m.db.url, { max: 2, onnotice: () => {} });
    try {
      const pj = new AgentPG({ driver: postgresDriver(sql), ...FAST, baseURL: env.emu.url });
      const a = await client.createAgent({ name: 'pj_bot', model: 'claude-haiku-5-5' });
      const s = await client.newSession();
      const runId = await sql.begin((tx) => pj.runTx(tx, s, a.id, 'from postgres.js'));
      expect((await client.waitForRun(runId, { timeoutMs: 20_000 })).text).toBeTruthy();
      const rolled = await sql
        .begin(async (tx) => {
          await pj.runTx(tx, s, a.id, 'rolled back');
          throw new Error('abort');
        })
        .catch((e: Error) => e.message);
      expect(rolled).toBe('abort');
      expect((await client.listRuns({ sessionId: s })).total).toBe(1);
    } finally {
      await sql.end();
    }
  });

  it('PGlite: the whole engine in-process, runTx inside db.transaction()', async () => {
    const emu = await startEmulator({ batchLatencyMs: 10 });
    const db = new PGlite();
    const lite = new AgentPG({ driver: pgliteDriver(db), ...FAST, baseURL: emu.url, autoMigrate: true });
    try {
      await lite.start();
      const a = await lite.createAgent({ name: 'lite_bot', model: 'claude-haiku-5-5' });
      const s = await lite.newSession();
      const runId = await db.transaction((tx) => lite.runTx(tx, s, a.id, 'What is 3+4?'));
      expect((await lite.waitForRun(runId, { timeoutMs: 60_000 })).text).toContain('7');
      const fast = await lite.runFastSync(s, a.id, 'What is 5+5?', { timeoutMs: 60_000 });
      expect(fast.text).toContain('10');
    } finally {
      await lite.stop();
      await db.close();
      await emu.close();
    }
  }, 120_000);
});

/**
 * A worker process for the reliability suite: an agentpg client with two tools, against the database and
 * emulator given in the environment. Every tool call writes a side-effect row (before it returns), so the
 * suite can count executions per tool_use. Prints `READY <instanceId> <pid>` once started; SIGTERM stops it
 * gracefully and prints `STOPPED <ms>`. Its connections carry application_name `agentpg-worker`, so the
 * suite can kill them with pg_terminate_backend without touching its own.
 */
import pg from 'pg';
import { z } from 'zod';
import { AgentPG } from '../../src/client.js';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { defineTool } from '../../src/tools/define.js';
import { consoleLogger } from '../../src/logger.js';

const env = process.env;
const name = env.AGENTPG_WORKER_NAME ?? `worker-${process.pid}`;
const pool = new pg.Pool({ connectionString: env.AGENTPG_TEST_DB!, max: 10, application_name: 'agentpg-worker', connectionTimeoutMillis: 5000 });
const num = (key: string, dflt: number) => (env[key] ? Number(env[key]) : dflt);
const toolMinMs = num('AGENTPG_TOOL_MIN_MS', 50);
const toolMaxMs = num('AGENTPG_TOOL_MAX_MS', 300);

/** The side effect: one row per execution, written with retries so a connection blip does not fail the tool. */
async function sideEffect(executionId: string, toolUseId: string, tool: string, attempt: number): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await pool.query(`INSERT INTO side_effects (execution_id, tool_use_id, tool, instance, attempt) VALUES ($1, $2, $3, $4, $5)`, [
        executionId,
        toolUseId,
        tool,
        name,
        attempt,
      ]);
      return;
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const work = (signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, toolMinMs + Math.random() * (toolMaxMs - toolMinMs));
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

const client = new AgentPG({
  driver: pgDriver(pool),
  apiKey: 'sk-test',
  baseURL: env.AGENTPG_TEST_EMULATOR!,
  name,
  batch: { pollIntervalMs: 100, flushIntervalMs: 50, requeueDelayMs: 50, maxRequeues: 20 },
  runPollIntervalMs: 300,
  toolPollIntervalMs: 300,
  maxConcurrentStreamingRuns: 20,
  maxConcurrentTools: num('AGENTPG_MAX_TOOLS', 50),
  leaseMs: num('AGENTPG_LEASE_MS', 2000),
  heartbeatIntervalMs: num('AGENTPG_HEARTBEAT_MS', 300),
  instanceTtlMs: num('AGENTPG_INSTANCE_TTL_MS', 2500),
  leaderTtlMs: num('AGENTPG_LEADER_TTL_MS', 1500),
  shutdownTimeoutMs: num('AGENTPG_SHUTDOWN_MS', 5000),
  unclaimedToolTimeoutMs: 120_000,
  toolRetry: { maxAttempts: 10, initialDelayMs: 20, maxDelayMs: 200 },
  ...(env.AGENTPG_CHAOS_LOG ? { logger: consoleLogger(env.AGENTPG_CHAOS_LOG as 'debug' | 'info' | 'warn') } : {}),
});

client.registerTool(
  defineTool({
    name: 'lookup',
    description: 'Look up the value stored under a key',
    input: z.object({ key: z.number().int() }),
    execute: async ({ key }, ctx) => {
      await sideEffect(ctx.executionId, ctx.toolUseId, 'lookup', ctx.attempt);
      await work(ctx.signal);
      return `value-${key}`;
    },
  }),
);
client.registerTool(
  defineTool({
    name: 'double',
    description: 'Double a number',
    input: z.object({ n: z.number() }),
    execute: async ({ n }, ctx) => {
      await sideEffect(ctx.executionId, ctx.toolUseId, 'double', ctx.attempt);
      await work(ctx.signal);
      return String(n * 2);
    },
  }),
);

await client.start();
process.stdout.write(`READY ${client.instanceId} ${process.pid}\n`);
let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  const started = Date.now();
  await client.stop();
  process.stdout.write(`STOPPED ${Date.now() - started}\n`);
  await pool.end().catch(() => {});
  process.exit(0);
});

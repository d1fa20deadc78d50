/**
 * A worker process for multi-process tests: an agentpg client with test tools, started against the test
 * database and emulator given in the environment. Every tool call leaves a side-effect row, so tests can
 * count executions per tool_use. Prints READY when started; SIGTERM stops it gracefully.
 */
import pg from 'pg';
import { z } from 'zod';
import { AgentPG } from '../../src/client.js';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { defineTool } from '../../src/tools/define.js';
import { consoleLogger } from '../../src/logger.js';

const url = process.env.AGENTPG_TEST_DB!;
const pool = new pg.Pool({ connectionString: url, max: 8 });
const name = process.env.AGENTPG_WORKER_NAME ?? `worker-${process.pid}`;
const sideEffect = (executionId: string, toolUseId: string, tool: string) =>
  pool.query(`INSERT INTO side_effects (execution_id, tool_use_id, tool, instance) VALUES ($1, $2, $3, $4)`, [executionId, toolUseId, tool, name]);

const client = new AgentPG({
  driver: pgDriver(pool),
  apiKey: 'sk-test',
  baseURL: process.env.AGENTPG_TEST_EMULATOR!,
  name,
  batch: { pollIntervalMs: 50, flushIntervalMs: 50, requeueDelayMs: 20 },
  runPollIntervalMs: 300,
  toolPollIntervalMs: 300,
  leaseMs: Number(process.env.AGENTPG_LEASE_MS ?? 3000),
  toolRetry: { initialDelayMs: 20, maxDelayMs: 100 },
  ...(process.env.AGENTPG_DEBUG ? { logger: consoleLogger('info') } : {}),
});

client.registerTool(
  defineTool({
    name: 'lookup',
    description: 'Look up the value stored under a key',
    input: z.object({ key: z.number().int() }),
    execute: async ({ key }, ctx) => {
      await sideEffect(ctx.executionId, ctx.toolUseId, 'lookup');
      const delay = Number(process.env.AGENTPG_TOOL_DELAY_MS ?? 0);
      if (delay) await new Promise((r) => setTimeout(r, Math.random() * delay));
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
      await sideEffect(ctx.executionId, ctx.toolUseId, 'double');
      return String(n * 2);
    },
  }),
);

await client.start();
process.stdout.write(`READY ${client.instanceId}\n`);
let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  await client.stop();
  await pool.end();
  process.exit(0);
});

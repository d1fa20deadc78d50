/**
 * A graphile-worker process (the peer) on the benchmark's database, in its own schema. Task `noop` does
 * nothing; task `probe` prints `GWSTART {token, t}` when it starts (latency). Environment: BENCH_DB,
 * GW_CONCURRENCY, GW_POOL, GW_BATCHED=1 (localQueue + batched completion, its documented fast settings).
 */
import { takeQueryCounts } from './lib/count-queries.js';
import { Logger, run, type Runner } from 'graphile-worker';
import { nowMs, serveCommands } from './lib/child.js';
import { ownCpuMs } from './lib/cpu.js';

const concurrency = Number(process.env.GW_CONCURRENCY ?? 24);
const batched = process.env.GW_BATCHED === '1';

const runner: Runner = await run({
  connectionString: process.env.BENCH_DB!,
  schema: 'graphile_worker',
  concurrency,
  maxPoolSize: Number(process.env.GW_POOL ?? concurrency + 1),
  noHandleSignals: true,
  pollInterval: 1000,
  logger: new Logger(() => () => {}),
  taskList: {
    noop: async () => {},
    probe: async (payload) => {
      process.stdout.write(`GWSTART ${JSON.stringify({ token: (payload as { token: string }).token, t: nowMs() })}\n`);
    },
  },
  ...(batched
    ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }
    : {}),
});

takeQueryCounts();
process.stdout.write(`READY ${JSON.stringify({ pid: process.pid })}\n`);

serveCommands({ stats: () => ({ queries: takeQueryCounts(), cpuMs: ownCpuMs(), rss: process.memoryUsage().rss }) }, async () => {
  await runner.stop();
});

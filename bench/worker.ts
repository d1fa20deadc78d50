/**
 * An agentpg worker process for the benchmark: a started client with one no-op tool (`echo`), its SQL counted
 * at the pg protocol boundary. Environment: BENCH_DB, BENCH_EMULATOR (or BENCH_EMULATOR_INPROCESS=1),
 * BENCH_STREAMS (maxConcurrentStreamingRuns), BENCH_POOL, BENCH_BATCH (JSON batch config), BENCH_RSS_SAMPLE (sample RSS
 * every 50 ms for the peak).
 * Commands: `stats` (queries since the last stats, RSS now and max since the last stats).
 */
import { takeQueryCounts } from './lib/count-queries.js';
import pg from 'pg';
import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { AgentPG } from '../src/client.js';
import { pgDriver } from '../src/db/drivers/pg.js';
import { defineTool } from '../src/tools/define.js';
import { consoleLogger } from '../src/logger.js';
import { startEmulator } from '../src/emulator/index.js';
import { nowMs, serveCommands } from './lib/child.js';
import { ownCpuMs } from './lib/cpu.js';

const poolSize = Number(process.env.BENCH_POOL ?? 10);
const pool = new pg.Pool({ connectionString: process.env.BENCH_DB!, max: poolSize });
const emu = process.env.BENCH_EMULATOR_INPROCESS ? await startEmulator({ requestLogLimit: 10, batchLatencyMs: 100 }) : null;

/**
 * BENCH_MODEL=stub: a model that answers in-process at once (no HTTP, no SSE), to measure the engine's own
 * claim/complete loop against graphile-worker's. It implements only what fast mode calls: messages.stream().
 */
function stubModel(): Anthropic {
  const message = (p: Anthropic.MessageCreateParamsNonStreaming): Anthropic.Message =>
    ({
      id: 'msg_stub',
      type: 'message',
      role: 'assistant',
      model: p.model,
      content: [{ type: 'text', text: 'Hello!', citations: null }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    }) as unknown as Anthropic.Message;
  const stream = (p: Anthropic.MessageCreateParamsNonStreaming) => {
    const onText: ((t: string) => void)[] = [];
    const s = {
      on(event: string, h: (t: string) => void) {
        if (event === 'text') onText.push(h);
        return s;
      },
      async finalMessage() {
        await new Promise((r) => setImmediate(r));
        for (const h of onText) h('Hello!');
        return message(p);
      },
    };
    return s;
  };
  return { messages: { stream } } as unknown as Anthropic;
}

const client = new AgentPG({
  driver: pgDriver(pool),
  apiKey: 'sk-bench',
  baseURL: emu?.url ?? process.env.BENCH_EMULATOR!,
  ...(process.env.BENCH_MODEL === 'stub' ? { anthropic: stubModel() } : {}),
  maxConcurrentStreamingRuns: Number(process.env.BENCH_STREAMS ?? 32),
  maxConcurrentTools: Number(process.env.BENCH_TOOLS ?? 64),
  batch: JSON.parse(process.env.BENCH_BATCH ?? '{}'),
  ...(process.env.BENCH_DEBUG ? { logger: consoleLogger('warn') } : {}),
});

client.registerTool(
  defineTool({
    name: 'echo',
    description: 'Echo a word back',
    input: z.object({ word: z.string() }),
    execute: async ({ word }) => {
      // Latency probes: the moment the tool finished, for "last tool done -> next model request".
      if (word.startsWith('probe')) process.stdout.write(`TOOLEND ${JSON.stringify({ token: word, t: nowMs() })}\n`);
      return `echoed ${word}`;
    },
  }),
);

await client.start();

let maxRss = process.memoryUsage().rss;
let atMax = process.memoryUsage();
const series: string[] = [];
// Peak RSS is sampled only where it is measured (BENCH_RSS_SAMPLE=1: the batch phase); graphile-worker's processes
// run no sampler, so the throughput phases do not either.
if (process.env.BENCH_RSS_SAMPLE || process.env.BENCH_MEMORY_SERIES) setInterval(() => {
  // memoryUsage.rss() is cheap; the full breakdown (it walks the heap's spaces) only at a new peak or for a series.
  const rss = process.memoryUsage.rss();
  if (rss <= maxRss && !process.env.BENCH_MEMORY_SERIES) return;
  const m = process.memoryUsage();
  if (process.env.BENCH_MEMORY_SERIES) series.push(`${Date.now()} ${Math.round(m.rss / 2 ** 20)} ${Math.round(m.heapUsed / 2 ** 20)}`);
  if (m.rss > maxRss) {
    maxRss = m.rss;
    atMax = m;
  }
}, 50).unref();

takeQueryCounts();
process.stdout.write(`READY ${JSON.stringify({ instanceId: client.instanceId, pid: process.pid })}\n`);

serveCommands(
  {
    stats: () => {
      const rss = process.memoryUsage().rss;
      const mb = (x: number) => Math.round(x / 2 ** 20);
      const memory = { heapUsedMb: mb(atMax.heapUsed), heapTotalMb: mb(atMax.heapTotal), externalMb: mb(atMax.external), arrayBuffersMb: mb(atMax.arrayBuffers) };
      const out = { queries: takeQueryCounts(), cpuMs: ownCpuMs(), rss, maxRss: Math.max(maxRss, rss), atMaxRss: memory };
      maxRss = rss;
      atMax = process.memoryUsage();
      return out;
    },
    series: () => series.splice(0),
    gc: () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage().rss;
    },
  },
  async () => {
    await client.stop({ timeoutMs: 2000 });
    await emu?.close();
    await pool.end();
  },
);

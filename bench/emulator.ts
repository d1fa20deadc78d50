/**
 * The Claude API emulator in its own process, answering at once. Latency probes (requests whose latest user
 * turn mentions `probe-<token>`) print `P {token, kind, t}` with the time the model call reached "the model";
 * kind is `prompt` for a first call and `tool` for a call carrying tool results. `counts` returns (and resets)
 * the HTTP requests served, by route. Environment: BENCH_BATCH_LATENCY_MS.
 */
import type { Server } from 'node:http';
import { startEmulator, defaultResponder, type Responder } from '../src/emulator/index.js';
import { nowMs, serveCommands } from './lib/child.js';
import { ownCpuMs } from './lib/cpu.js';

const PROBE = /probe-[0-9a-z]+/;

const responder: Responder = (req, ctx) => {
  const last = req.messages[req.messages.length - 1];
  if (last && last.role === 'user') {
    const text = typeof last.content === 'string' ? last.content : JSON.stringify(last.content);
    const m = PROBE.exec(text);
    if (m) {
      const kind = Array.isArray(last.content) && last.content.some((b) => b.type === 'tool_result') ? 'tool' : 'prompt';
      process.stdout.write(`P ${JSON.stringify({ token: m[0], kind, t: nowMs(), source: ctx.source })}\n`);
    }
  }
  return defaultResponder(req, ctx);
};

const emu = await startEmulator({
  responder,
  requestLogLimit: 10,
  batchLatencyMs: Number(process.env.BENCH_BATCH_LATENCY_MS ?? 100),
});

interface CoreAccess {
  opts: { batchLatencyMs: number };
  batches: { list(): { status: string; running: boolean }[] };
  runner: { schedule(batch: unknown, ms: number): void };
}
const core = (emu as unknown as { core: CoreAccess }).core;
let counts: Record<string, number> = {};
const server = (emu as unknown as { server: Server }).server;
server.on('request', (req) => {
  const path = (req.url ?? '').split('?')[0]!.replace(/\/msgbatch_[^/]+/, '/:id');
  const key = `${req.method} ${path}`;
  counts[key] = (counts[key] ?? 0) + 1;
});

process.stdout.write(`READY ${JSON.stringify({ url: emu.url, pid: process.pid })}\n`);

serveCommands(
  {
    counts: () => {
      const c = counts;
      counts = {};
      return c;
    },
    cpu: () => ownCpuMs(),
    // `hold`: new batches stay in progress until `release`, which ends them all at once (then new batches take
    // `ms`). The benchmark uses it to have every run of a wave waiting at the same moment.
    hold: () => {
      core.opts.batchLatencyMs = Infinity;
      return true;
    },
    release: (ms) => {
      core.opts.batchLatencyMs = Number(ms);
      let n = 0;
      for (const b of core.batches.list()) {
        if (b.status === 'in_progress' && !b.running) {
          core.runner.schedule(b, 0);
          n++;
        }
      }
      return n;
    },
  },
  () => emu.close(),
);

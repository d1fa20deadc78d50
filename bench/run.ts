/**
 * `npm run bench`: agentpg against graphile-worker (the peer) and against the database's own limit, measured in one
 * run on one PostgreSQL (embedded, or DATABASE_URL), the Claude emulator answering at once. Prints a table with
 * ratios and writes bench/results/<timestamp>.json. See bench/README.md for what each number means.
 *
 * Knobs (environment): BENCH_SECONDS (length of each throughput window, default 5), BENCH_ROUNDS (interleaved
 * rounds of every throughput measurement, the median kept; default 3), BENCH_QUICK=1 (one round, shorter windows,
 * fewer probes), BENCH_PRODUCERS (concurrent run()/addJob() callers, default 16), BENCH_SKIP=phase,phase (ceiling, graphile, fast, stub, backlog, inprocess, tools, latency, batch),
 * BENCH_PROFILE=<dir> (a V8 CPU profile of every child process, for Chrome DevTools).
 */
import { takeQueryCounts, uncounted } from './lib/count-queries.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import { makeWorkerUtils, runMigrations, type WorkerUtils } from 'graphile-worker';
import { AgentPG } from '../src/client.js';
import { pgDriver } from '../src/db/drivers/pg.js';
import { migrate } from '../src/db/migrate.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/devdb/embedded.js';
import { Child, nowMs, percentile, sleep, startChild } from './lib/child.js';
import { buildChildren } from './lib/build.js';
import { ownCpuMs, postmasterPid, serverCpuMs } from './lib/cpu.js';

const QUICK = process.env.BENCH_QUICK === '1';
const WINDOW_MS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 3 : 5)) * 1000;
/** Throughput rounds; the median is reported. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const SKIP = new Set((process.env.BENCH_SKIP ?? '').split(',').filter(Boolean));
/** Per worker process: concurrent model calls (agentpg) / concurrent jobs (graphile-worker) / ceiling loops. */
const CONCURRENCY = 24;
const POOL = CONCURRENCY + 1;
const PRODUCERS = Number(process.env.BENCH_PRODUCERS ?? 16);
const MAX_BACKLOG = 1000;
const PROBES = QUICK ? 100 : 300;
const started = Date.now();

const log = (msg: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`);

// --- database, schemas, emulator -------------------------------------------------------------------------------

let server: EmbeddedPostgres | undefined;
let url = process.env.DATABASE_URL;
if (!url) {
  server = await startEmbeddedPostgres();
  url = server.url;
}
const admin = uncounted(new pg.Pool({ connectionString: url, max: 4 }));
const { rows: ver } = await admin.query<{ v: string; settings: string }>(
  `SELECT version() AS v, (SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings
     WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'shared_buffers')) AS settings`,
);
log(`database: ${ver[0]!.v.split(',')[0]} (${ver[0]!.settings})${server ? ', embedded' : ''}`);
const postmaster = await postmasterPid(admin);
await buildChildren(['worker.ts', 'gw-worker.ts', 'ceiling.ts', 'emulator.ts']);
await migrate(pgDriver(admin));
await runMigrations({ connectionString: url, schema: 'graphile_worker', logger: quietGwLogger() });
await admin.query(`CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, payload text, done boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz)`);

const { child: emulator, ready: emuReady } = await startChild('emulator.ts', {}, 'emulator');
const emulatorUrl = (emuReady as { url: string }).url;
const probes = new Map<string, { prompt?: number; tool?: number }>();
emulator.onLine((line) => {
  if (!line.startsWith('P ')) return;
  const p = JSON.parse(line.slice(2)) as { token: string; kind: 'prompt' | 'tool'; t: number };
  const e = probes.get(p.token) ?? {};
  e[p.kind] ??= p.t;
  probes.set(p.token, e);
});

// The producer: a client that is never started (any process can create runs), on its own pool.
const producerPool = new pg.Pool({ connectionString: url, max: PRODUCERS });
const producer = new AgentPG({ driver: pgDriver(producerPool), apiKey: 'sk-bench', baseURL: emulatorUrl });
const plainAgent = await producer.getOrCreateAgent({ name: 'bench_plain', model: 'claude-haiku-5-5', systemPrompt: 'You answer briefly.' });
const toolAgent = await producer.getOrCreateAgent({
  name: 'bench_tools',
  model: 'claude-haiku-5-5',
  systemPrompt: 'You use tools.',
  tools: ['echo'],
});

const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version },
  database: { version: ver[0]!.v, settings: ver[0]!.settings, embedded: !!server },
  config: { windowMs: WINDOW_MS, concurrencyPerProcess: CONCURRENCY, poolPerProcess: POOL, producers: PRODUCERS, maxBacklog: MAX_BACKLOG },
};

// --- helpers --------------------------------------------------------------------------------------------------

function quietGwLogger() {
  // graphile-worker's Logger: a factory of log functions; silence it.
  return new (class {
    scope() {
      return this;
    }
    error() {}
    warn() {}
    info() {}
    debug() {}
  })() as unknown as import('graphile-worker').Logger;
}

async function resetAgentpg(): Promise<void> {
  await admin.query(`TRUNCATE agentpg.sessions, agentpg.runs, agentpg.iterations, agentpg.messages, agentpg.content_blocks,
    agentpg.tool_executions, agentpg.batches CASCADE`);
  await admin.query('VACUUM ANALYZE agentpg.runs, agentpg.iterations, agentpg.messages, agentpg.content_blocks, agentpg.tool_executions, agentpg.sessions');
}

/** Fresh sessions, one per run (a run sees its session's earlier runs; a shared session would grow every prompt). */
async function makeSessions(n: number): Promise<string[]> {
  const { rows } = await admin.query<{ id: string }>(`INSERT INTO agentpg.sessions (id) SELECT gen_random_uuid() FROM generate_series(1, $1) RETURNING id`, [n]);
  return rows.map((r) => r.id);
}

async function startWorkers(n: number, env: Record<string, string>): Promise<Child[]> {
  const list = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      startChild('worker.ts', { BENCH_DB: url!, BENCH_EMULATOR: emulatorUrl, BENCH_STREAMS: String(CONCURRENCY), BENCH_POOL: String(POOL), ...env }, `worker${i}`),
    ),
  );
  return list.map((w) => w.child);
}

async function startGraphile(n: number, batched: boolean): Promise<Child[]> {
  const list = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      startChild('gw-worker.ts', { BENCH_DB: url!, GW_CONCURRENCY: String(CONCURRENCY), GW_POOL: String(POOL), GW_BATCHED: batched ? '1' : '0' }, `gw${i}`),
    ),
  );
  return list.map((w) => w.child);
}

interface WorkerStats {
  queries: { roundTrips: number; control: number; byKind: Record<string, number> };
  cpuMs: number;
  rss: number;
  maxRss: number;
  /** Heap and buffers when RSS peaked. */
  atMaxRss?: Record<string, number>;
}

interface CpuMark {
  workers: number;
  postgres: number | null;
  emulator: number;
  bench: number;
}

/** Cumulative CPU of every process taking part (workers as reported by their stats). */
async function cpuMark(workerStats: { cpuMs: number }[]): Promise<CpuMark> {
  return {
    workers: workerStats.reduce((a, s) => a + s.cpuMs, 0),
    postgres: serverCpuMs(postmaster),
    emulator: await emulator.ask<number>('cpu'),
    bench: ownCpuMs(),
  };
}

/** CPU ms per item between two marks, in all and by process kind. */
function cpuPerItem(a: CpuMark, b: CpuMark, items: number) {
  const per = (x: number) => +(x / Math.max(1, items)).toFixed(3);
  const pgMs = a.postgres !== null && b.postgres !== null ? b.postgres - a.postgres : null;
  const parts = { workers: b.workers - a.workers, postgres: pgMs ?? 0, emulator: b.emulator - a.emulator, bench: b.bench - a.bench };
  return {
    total: per(parts.workers + parts.postgres + parts.emulator + parts.bench),
    workers: per(parts.workers),
    postgres: pgMs === null ? null : per(pgMs),
    emulator: per(parts.emulator),
    bench: per(parts.bench),
  };
}

async function collect(workers: Child[]): Promise<WorkerStats[]> {
  return Promise.all(workers.map((w) => w.ask<WorkerStats>('stats')));
}

function sumQueries(stats: WorkerStats[]): { roundTrips: number; control: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  let roundTrips = 0;
  let control = 0;
  for (const s of stats) {
    roundTrips += s.queries.roundTrips;
    control += s.queries.control;
    for (const [k, v] of Object.entries(s.queries.byKind)) byKind[k] = (byKind[k] ?? 0) + v;
  }
  return { roundTrips, control, byKind };
}

interface Throughput {
  items: number;
  elapsedMs: number;
  perSecond: number;
  /** Mean items created but not finished, sampled: near MAX_BACKLOG means the workers were the bottleneck. */
  meanBacklog: number;
}

/**
 * Closed-loop throughput: PRODUCERS concurrent loops create items for WINDOW_MS while at most MAX_BACKLOG are
 * unfinished; then every item is waited for. Items per second = created / (last finished - first created).
 */
async function throughput(create: () => Promise<void>, unfinished: () => Promise<number>, windowMs = WINDOW_MS): Promise<Throughput> {
  let created = 0;
  let backlog = 0;
  let samples = 0;
  let backlogSum = 0;
  const start = Date.now();
  let observing = true;
  const observer = (async () => {
    while (observing) {
      backlog = await unfinished();
      backlogSum += backlog;
      samples++;
      await sleep(20);
    }
  })();
  const producers = Array.from({ length: PRODUCERS }, async () => {
    while (Date.now() - start < windowMs) {
      if (backlog + PRODUCERS >= MAX_BACKLOG) {
        await sleep(2);
        continue;
      }
      backlog++;
      created++;
      await create();
    }
  });
  await Promise.all(producers);
  const deadline = Date.now() + 120_000;
  while ((await unfinished()) > 0) {
    if (Date.now() > deadline) throw new Error('items did not finish within 120 s');
    await sleep(5);
  }
  const elapsedMs = Date.now() - start;
  observing = false;
  await observer;
  return { items: created, elapsedMs, perSecond: Math.round((created / elapsedMs) * 1000), meanBacklog: Math.round(backlogSum / Math.max(1, samples)) };
}

const activeRuns = async () => Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM agentpg.runs WHERE finalized_at IS NULL`)).rows[0]!.n);
const pendingJobs = async () => Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM graphile_worker._private_jobs`)).rows[0]!.n);

async function runOutcome(): Promise<{ completed: number; other: Record<string, number>; iterations: number }> {
  const { rows } = await admin.query<{ state: string; n: string }>(`SELECT state, count(*) AS n FROM agentpg.runs GROUP BY state`);
  const other: Record<string, number> = {};
  let completed = 0;
  for (const r of rows) {
    if (r.state === 'completed') completed = Number(r.n);
    else other[r.state] = Number(r.n);
  }
  const { rows: it } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM agentpg.iterations WHERE state = 'completed'`);
  return { completed, other, iterations: Number(it[0]!.n) };
}

/** agentpg fast mode: runs per second with `procs` worker processes; `agent` decides one or two iterations. */
async function agentpgFast(label: string, procs: number, agentId: string, prompt: string, env: Record<string, string> = {}) {
  await resetAgentpg();
  const sessions = await makeSessions(Math.round((WINDOW_MS / 1000) * 3000)); // 3,000 runs/s at most; reused round-robin beyond
  let next = 0;
  const workers = await startWorkers(procs, env);
  const cpu0 = await cpuMark(await collect(workers));
  takeQueryCounts();
  log(`${label}: ${procs} worker process(es)…`);
  const t = await throughput(async () => {
    const s = sessions[next++ % sessions.length]!;
    await producer.runFast(s, agentId, prompt);
  }, activeRuns);
  const stats = await collect(workers);
  const cpu = cpuPerItem(cpu0, await cpuMark(stats), t.items);
  const clientQueries = takeQueryCounts();
  await Promise.all(workers.map((w) => w.stop()));
  const outcome = await runOutcome();
  const q = sumQueries(stats);
  const out = {
    ...t,
    cpuMsPerRun: cpu,
    outcome,
    roundTripsPerIteration: +(q.roundTrips / Math.max(1, outcome.iterations)).toFixed(2),
    controlPerIteration: +(q.control / Math.max(1, outcome.iterations)).toFixed(2),
    clientRoundTripsPerRun: +(clientQueries.roundTrips / Math.max(1, t.items)).toFixed(2),
    byKind: perIteration(q.byKind, outcome.iterations),
    maxRssMb: Math.round(Math.max(...stats.map((s) => s.maxRss)) / 2 ** 20),
  };
  log(`${label}: ${out.perSecond} runs/s (${t.items} runs, backlog ~${t.meanBacklog}), CPU ${JSON.stringify(cpu)} ms/run, ${out.roundTripsPerIteration} round trips/iteration, ${JSON.stringify(outcome.other)}`);
  return out;
}

function perIteration(byKind: Record<string, number>, iterations: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, +(v / Math.max(1, iterations)).toFixed(3)]),
  );
}

/**
 * A backlog: `n` fast-mode runs created while no worker runs, then one worker drains them. Throughput must not
 * depend on how many runs wait (every claim and completion finds its rows by key, never by scanning the backlog).
 */
async function backlogDrain(n: number) {
  await resetAgentpg();
  const sessions = await makeSessions(n);
  let i = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (i < n) await producer.runFast(sessions[i++]!, plainAgent.id, 'Say hello');
    }),
  );
  // What autovacuum would do on a busy system: the planner now knows how many runs wait.
  await admin.query('ANALYZE agentpg.runs, agentpg.iterations, agentpg.messages, agentpg.content_blocks');
  log(`backlog: ${n} fast-mode runs waiting; one worker drains them…`);
  const start = Date.now();
  const workers = await startWorkers(1, {});
  const deadline = Date.now() + 180_000;
  while ((await activeRuns()) > 0) {
    if (Date.now() > deadline) throw new Error('the backlog was not drained within 180 s');
    await sleep(20);
  }
  const elapsedMs = Date.now() - start;
  await Promise.all(workers.map((w) => w.stop()));
  const outcome = await runOutcome();
  const out = { runs: n, elapsedMs, perSecond: Math.round((n / elapsedMs) * 1000), outcome };
  log(`backlog: ${out.perSecond} runs/s draining ${n} runs (worker start included), ${JSON.stringify(outcome.other)}`);
  return out;
}

async function graphileThroughput(label: string, procs: number, batched: boolean, utils: WorkerUtils) {
  const workers = await startGraphile(procs, batched);
  const cpu0 = await cpuMark(await collect(workers));
  log(`${label}: ${procs} process(es)${batched ? ', batched' : ''}…`);
  const t = await throughput(() => utils.addJob('noop', {}).then(() => {}), pendingJobs);
  const stats = await collect(workers);
  const cpu = cpuPerItem(cpu0, await cpuMark(stats), t.items);
  await Promise.all(workers.map((w) => w.stop()));
  const q = sumQueries(stats as WorkerStats[]);
  const out = { ...t, cpuMsPerJob: cpu, roundTripsPerJob: +(q.roundTrips / Math.max(1, t.items)).toFixed(2) };
  log(`${label}: ${out.perSecond} jobs/s (${t.items} jobs, backlog ~${t.meanBacklog}), CPU ${JSON.stringify(cpu)} ms/job, ${out.roundTripsPerJob} round trips/job`);
  return out;
}

async function ceiling(procs: number) {
  await admin.query('TRUNCATE bench_ceiling');
  const list = await Promise.all(
    Array.from({ length: procs }, (_, i) => startChild('ceiling.ts', { BENCH_DB: url!, BENCH_CONCURRENCY: String(CONCURRENCY) }, `ceiling${i}`)),
  );
  const pg0 = serverCpuMs(postmaster);
  const rs = await Promise.all(list.map((c) => c.child.ask<{ transactions: number; elapsedMs: number; cpuMs: number }>('run', Math.min(WINDOW_MS, 6000))));
  const pg1 = serverCpuMs(postmaster);
  await Promise.all(list.map((c) => c.child.stop()));
  const tx = rs.reduce((a, r) => a + r.transactions, 0);
  const ms = Math.max(...rs.map((r) => r.elapsedMs));
  const clientCpu = rs.reduce((a, r) => a + r.cpuMs, 0);
  const pgCpu = pg0 !== null && pg1 !== null ? pg1 - pg0 : 0;
  const out = {
    transactions: tx,
    elapsedMs: ms,
    perSecond: Math.round((tx / ms) * 1000),
    cpuMsPerTransaction: { total: +((clientCpu + pgCpu) / tx).toFixed(3), client: +(clientCpu / tx).toFixed(3), postgres: +(pgCpu / tx).toFixed(3) },
  };
  log(`ceiling, ${procs} process(es) x ${CONCURRENCY}: ${out.perSecond} insert+update transactions/s, CPU ${JSON.stringify(out.cpuMsPerTransaction)} ms/tx`);
  return out;
}

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const r = (x: number) => +x.toFixed(2);
  return { n: s.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1] ?? NaN), mean: r(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)) };
}

function token(): string {
  return `probe-${Math.random().toString(36).slice(2, 12)}`;
}

async function waitFor<T>(get: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting for a probe');
    await sleep(0.2);
  }
}

/** run() → model request, and last tool done → next model request, one run at a time on an idle system. */
async function latency() {
  await resetAgentpg();
  const sessions = await makeSessions(2 * PROBES + 20);
  let next = 0;
  const workers = await startWorkers(1, {});
  const toolEnds = new Map<string, number>();
  workers[0]!.onLine((line) => {
    if (!line.startsWith('TOOLEND ')) return;
    const p = JSON.parse(line.slice(8)) as { token: string; t: number };
    toolEnds.set(p.token, p.t);
  });
  log(`latency: ${PROBES} sequential fast-mode runs, then ${PROBES} with one tool call…`);
  const toRequest: number[] = [];
  const toolToRequest: number[] = [];
  // Warm up connections and code paths first.
  for (let i = 0; i < 20 + PROBES; i++) {
    const tk = token();
    const t0 = nowMs();
    const id = await producer.runFast(sessions[next++]!, plainAgent.id, `Say ${tk}`);
    const t1 = await waitFor(() => probes.get(tk)?.prompt);
    if (i >= 20) toRequest.push(t1 - t0);
    await producer.waitForRun(id, { timeoutMs: 10_000 });
  }
  for (let i = 0; i < PROBES; i++) {
    const tk = token();
    const t0 = nowMs();
    const id = await producer.runFast(sessions[next++ % sessions.length]!, toolAgent.id, `Use the echo tool for ${tk}`);
    const t1 = await waitFor(() => probes.get(tk)?.prompt);
    toRequest.push(t1 - t0);
    const t2 = await waitFor(() => probes.get(tk)?.tool);
    const tEnd = await waitFor(() => toolEnds.get(tk));
    toolToRequest.push(t2 - tEnd);
    await producer.waitForRun(id, { timeoutMs: 10_000 });
  }
  await Promise.all(workers.map((w) => w.stop()));
  const out = { runToModelRequestMs: stats(toRequest), toolDoneToModelRequestMs: stats(toolToRequest) };
  log(`latency: run() → model request p50 ${out.runToModelRequestMs.p50} ms, p99 ${out.runToModelRequestMs.p99} ms; tool done → next request p50 ${out.toolDoneToModelRequestMs.p50} ms, p99 ${out.toolDoneToModelRequestMs.p99} ms`);
  return out;
}

async function graphileLatency(utils: WorkerUtils) {
  const workers = await startGraphile(1, false);
  const starts = new Map<string, number>();
  workers[0]!.onLine((line) => {
    if (!line.startsWith('GWSTART ')) return;
    const p = JSON.parse(line.slice(8)) as { token: string; t: number };
    starts.set(p.token, p.t);
  });
  const values: number[] = [];
  for (let i = 0; i < 20 + PROBES; i++) {
    const tk = token();
    const t0 = nowMs();
    await utils.addJob('probe', { token: tk });
    const t1 = await waitFor(() => starts.get(tk));
    if (i >= 20) values.push(t1 - t0);
  }
  await Promise.all(workers.map((w) => w.stop()));
  const out = stats(values);
  log(`graphile-worker latency: addJob → task start p50 ${out.p50} ms, p99 ${out.p99} ms`);
  return out;
}

/**
 * Batch mode: `n` concurrent runs with one tool call (two waves of model calls), one worker process. The emulator
 * holds the first wave's batches until every run waits on one, so the worker's memory is read with all `n` runs
 * waiting; then it ends them, and the second wave's batches take `latencyMs`.
 */
async function batchMode(n: number, latencyMs: number) {
  await resetAgentpg();
  const sessions = await makeSessions(n);
  await emulator.ask('hold');
  const workers = await startWorkers(1, { BENCH_BATCH: JSON.stringify({ pollIntervalMs: 250 }), BENCH_RSS_SAMPLE: '1' });
  await collect(workers);
  await emulator.ask('counts');
  log(`batch mode: ${n} concurrent runs with one tool call…`);
  const start = Date.now();
  let i = 0;
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (i < n) {
        const s = sessions[i++]!;
        await producer.run(s, toolAgent.id, 'Use the echo tool for batch');
      }
    }),
  );
  const createMs = Date.now() - start;
  let waitingRuns = 0;
  for (;;) {
    const { rows } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM agentpg.runs WHERE state = 'batch_pending'`);
    waitingRuns = Number(rows[0]!.n);
    if (waitingRuns >= n || Date.now() - start > 120_000) break;
    await sleep(50);
  }
  const atWait = (await collect(workers))[0]!;
  const waitedMs = Date.now() - start;
  await emulator.ask('release', latencyMs);
  const deadline = Date.now() + 180_000;
  while ((await activeRuns()) > 0) {
    if (Date.now() > deadline) throw new Error('batch runs did not finish within 180 s');
    await sleep(50);
  }
  const elapsedMs = Date.now() - start;
  const stats = await collect(workers);
  await Promise.all(workers.map((w) => w.stop()));
  const counts = await emulator.ask<Record<string, number>>('counts');
  const outcome = await runOutcome();
  const { rows: waves } = await admin.query<{ wave: number; batches: string; iterations: string }>(
    `SELECT iteration_number AS wave, count(DISTINCT batch_id) AS batches, count(*) AS iterations FROM agentpg.iterations GROUP BY 1 ORDER BY 1`,
  );
  const { rows: b } = await admin.query<{ n: string; abandoned: string }>(`SELECT count(*) AS n, count(*) FILTER (WHERE state = 'abandoned') AS abandoned FROM agentpg.batches`);
  const apiCalls = Object.values(counts).reduce((a, c) => a + c, 0);
  const q = sumQueries([atWait, ...stats]);
  const out = {
    runs: n,
    createMs,
    allWaitingAfterMs: waitedMs,
    elapsedMs,
    outcome,
    batchesCreated: Number(b[0]!.n),
    abandoned: Number(b[0]!.abandoned),
    batchesPerWave: waves.map((w) => ({ wave: w.wave, batches: Number(w.batches), iterations: Number(w.iterations) })),
    apiCalls: counts,
    apiCallsPerRun: +(apiCalls / n).toFixed(4),
    roundTripsPerIteration: +(q.roundTrips / Math.max(1, outcome.iterations)).toFixed(2),
    byKind: perIteration(q.byKind, outcome.iterations),
    waitingRuns,
    rssWithRunsWaitingMb: Math.round(atWait.rss / 2 ** 20),
    maxRssMb: Math.round(Math.max(atWait.maxRss, ...stats.map((s) => s.maxRss)) / 2 ** 20),
    memoryAtMaxRss: [atWait, ...stats].sort((x, y) => y.maxRss - x.maxRss)[0]!.atMaxRss,
  };
  log(
    `batch ${n}: ${out.batchesCreated} batches (${out.batchesPerWave.map((w) => `wave ${w.wave}: ${w.batches}`).join(', ')}), ${out.apiCallsPerRun} API calls/run, ` +
      `RSS ${out.rssWithRunsWaitingMb} MB with ${waitingRuns} runs waiting (max ${out.maxRssMb} MB), ${out.roundTripsPerIteration} round trips/iteration, ${JSON.stringify(outcome.other)}`,
  );
  return out;
}

// --- the run --------------------------------------------------------------------------------------------------

const utils = await makeWorkerUtils({ connectionString: url, schema: 'graphile_worker', maxPoolSize: PRODUCERS, logger: quietGwLogger() });
try {
  const r: Record<string, any> = {};
  // Throughput: every contender once per round, rounds interleaved, the median round kept. On a machine shared
  // with other work, a burst of outside load then hits one sample of each contender, not one contender.
  const measures: [string, string, () => Promise<{ perSecond: number }>][] = [];
  for (const [p, procs] of [['p1', 1], ['p4', 4]] as const) {
    if (!SKIP.has('ceiling')) measures.push(['ceiling', p, () => ceiling(procs)]);
    if (!SKIP.has('graphile')) {
      measures.push(['graphile', p, () => graphileThroughput('graphile-worker', procs, false, utils)]);
      measures.push(['graphile', p === 'p1' ? 'batchedP1' : 'batchedP4', () => graphileThroughput('graphile-worker', procs, true, utils)]);
    }
    if (!SKIP.has('fast')) measures.push(['fast', p, () => agentpgFast('fast mode', procs, plainAgent.id, 'Say hello')]);
    if (!SKIP.has('stub')) {
      measures.push(['fastStubModel', p, () => agentpgFast('fast mode, model stubbed in the worker', procs, plainAgent.id, 'Say hello', { BENCH_MODEL: 'stub' })]);
    }
    if (!SKIP.has('tools')) measures.push(['tools', p, () => agentpgFast('one tool call', procs, toolAgent.id, 'Use the echo tool for bench')]);
  }
  if (!SKIP.has('inprocess')) {
    measures.push(['fastEmulatorInProcess', 'p1', () => agentpgFast('fast mode, emulator in the worker', 1, plainAgent.id, 'Say hello', { BENCH_EMULATOR_INPROCESS: '1' })]);
  }
  const samples = new Map<string, { perSecond: number }[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    log(`throughput, round ${round} of ${ROUNDS}`);
    for (const [group, key, run] of measures) {
      const k = `${group}.${key}`;
      samples.set(k, [...(samples.get(k) ?? []), await run()]);
    }
  }
  for (const [k, list] of samples) {
    const [group, key] = k.split('.') as [string, string];
    const sorted = [...list].sort((a, b) => a.perSecond - b.perSecond);
    r[group] ??= {};
    r[group][key] = { ...sorted[Math.floor((sorted.length - 1) / 2)]!, rounds: list.map((x) => x.perSecond) };
  }
  if (!SKIP.has('backlog')) r.backlog = await backlogDrain(QUICK ? 4000 : 10_000);
  if (!SKIP.has('latency')) {
    r.latency = await latency();
    r.graphileLatencyMs = await graphileLatency(utils);
  }
  if (!SKIP.has('batch')) {
    r.batch = { n1000: await batchMode(1000, 200), n10000: await batchMode(10_000, 200) };
  }
  Object.assign(result, r);
  result.totalSeconds = Math.round((Date.now() - started) / 1000);
  printTable(r);
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const file = new URL(`./results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url);
  writeFileSync(file, JSON.stringify(result, null, 2));
  log(`wrote ${file.pathname}`);
} finally {
  await utils.release();
  await producer.stop().catch(() => {});
  await emulator.stop();
  await producerPool.end();
  await admin.end();
  await server?.stop();
}

function printTable(r: Record<string, any>): void {
  const rows: string[][] = [['metric', 'agentpg', 'graphile-worker', 'gw batched', 'ceiling', 'ag÷gw', 'ag÷gw batched', 'ag÷ceiling']];
  const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) + '×' : '–');
  const n = (x?: number) => (x === undefined ? '–' : String(x));
  for (const p of ['p1', 'p4'] as const) {
    const procs = p === 'p1' ? 1 : 4;
    const gw = r.graphile?.[p]?.perSecond;
    const gwb = r.graphile?.[p === 'p1' ? 'batchedP1' : 'batchedP4']?.perSecond;
    const ceil = r.ceiling?.[p]?.perSecond;
    const fast = r.fast?.[p]?.perSecond;
    const tools = r.tools?.[p]?.perSecond;
    rows.push([`fast-mode runs/s, ${procs} proc`, n(fast), n(gw), n(gwb), n(ceil), ratio(fast, gw), ratio(fast, gwb), ratio(fast, ceil)]);
    rows.push([`1-tool runs/s, ${procs} proc`, n(tools), n(gw), n(gwb), n(ceil), ratio(tools, gw), ratio(tools, gwb), ratio(tools, ceil)]);
  }
  // CPU per item of every process involved (workers, PostgreSQL, emulator, the bench's producer): what throughput
  // would be on an otherwise idle machine. Ratios are inverted so that > 1 still means "agentpg does better".
  for (const p of ['p1', 'p4'] as const) {
    const procs = p === 'p1' ? 1 : 4;
    const gw = r.graphile?.[p]?.cpuMsPerJob?.total;
    const gwb = r.graphile?.[p === 'p1' ? 'batchedP1' : 'batchedP4']?.cpuMsPerJob?.total;
    const ceil = r.ceiling?.[p]?.cpuMsPerTransaction?.total;
    const fast = r.fast?.[p]?.cpuMsPerRun?.total;
    const tools = r.tools?.[p]?.cpuMsPerRun?.total;
    rows.push([`fast-mode CPU ms/run, ${procs} proc`, n(fast), n(gw), n(gwb), n(ceil), ratio(gw, fast), ratio(gwb, fast), ratio(ceil, fast)]);
    rows.push([`1-tool CPU ms/run, ${procs} proc`, n(tools), n(gw), n(gwb), n(ceil), ratio(gw, tools), ratio(gwb, tools), ratio(ceil, tools)]);
  }
  for (const p of ['p1', 'p4'] as const) {
    const s = r.fastStubModel?.[p];
    if (!s) continue;
    const gw = r.graphile?.[p]?.perSecond;
    const gwb = r.graphile?.[p === 'p1' ? 'batchedP1' : 'batchedP4']?.perSecond;
    const ceil = r.ceiling?.[p]?.perSecond;
    rows.push([`engine only (model stubbed), runs/s, ${p === 'p1' ? 1 : 4} proc`, n(s.perSecond), n(gw), n(gwb), n(ceil), ratio(s.perSecond, gw), ratio(s.perSecond, gwb), ratio(s.perSecond, ceil)]);
  }
  if (r.backlog) rows.push([`fast: drain a ${r.backlog.runs}-run backlog, runs/s`, n(r.backlog.perSecond), '', '', '', '', '', '']);
  if (r.fastEmulatorInProcess) rows.push(['fast runs/s, 1 proc, emulator in-process', n(r.fastEmulatorInProcess.p1.perSecond), '', '', '', ratio(r.fastEmulatorInProcess.p1.perSecond, r.graphile?.p1?.perSecond), '', '']);
  if (r.latency) {
    const l = r.latency;
    rows.push(['run() → model request p50/p99 ms', `${l.runToModelRequestMs.p50} / ${l.runToModelRequestMs.p99}`, r.graphileLatencyMs ? `${r.graphileLatencyMs.p50} / ${r.graphileLatencyMs.p99} (addJob→start)` : '', '', '', '', '', '']);
    rows.push(['tool done → next model request p50/p99 ms', `${l.toolDoneToModelRequestMs.p50} / ${l.toolDoneToModelRequestMs.p99}`, '', '', '', '', '', '']);
  }
  for (const [k, b] of Object.entries(r.batch ?? {}) as [string, any][]) {
    rows.push([`batch ${b.runs} runs: batches per wave`, b.batchesPerWave.map((w: any) => w.batches).join(' + '), '', '', '', '', '', '']);
    rows.push([`batch ${b.runs} runs: API calls per run`, String(b.apiCallsPerRun), '', '', '', '', '', '']);
    rows.push([`batch ${b.runs} runs: worker RSS MB (waiting / max)`, `${b.rssWithRunsWaitingMb} / ${b.maxRssMb}`, '', '', '', '', '', '']);
    rows.push([`batch ${b.runs} runs: round trips/iteration`, String(b.roundTripsPerIteration), '', '', '', '', '', '']);
    void k;
  }
  for (const p of ['p1', 'p4'] as const) {
    if (r.fast?.[p]) rows.push([`fast: round trips/iteration (${p === 'p1' ? 1 : 4} proc)`, String(r.fast[p].roundTripsPerIteration), r.graphile?.[p] ? `${r.graphile[p].roundTripsPerJob}/job` : '', r.graphile?.[p === 'p1' ? 'batchedP1' : 'batchedP4'] ? `${r.graphile[p === 'p1' ? 'batchedP1' : 'batchedP4'].roundTripsPerJob}/job` : '', '4/tx', '', '', '']);
    if (r.tools?.[p]) rows.push([`1-tool: round trips/iteration (${p === 'p1' ? 1 : 4} proc)`, String(r.tools[p].roundTripsPerIteration), '', '', '', '', '', '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => '| ' + row.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  const out = [line(rows[0]!), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.slice(1).map(line)];
  process.stdout.write('\n' + out.join('\n') + '\n\n');
}

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { EmbeddedPostgres } from '../../src/devdb/embedded.js';
import { startEmulator, reply, type Emulator, type MessageRequest } from '../../src/emulator/index.js';
import { AgentPG } from '../../src/client.js';
import { pgDriver } from '../../src/db/drivers/pg.js';
import { migrate } from '../../src/db/migrate.js';
import { integrityProblems } from '../support/engine.js';
import { waitFor, withDatabase } from '../support/db.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/** A small seeded PRNG (mulberry32): the same seed gives the same kill times and targets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The agents' scripted behaviour -----------------------------------------------------------------------

const STEPS = 'You are the chaos steps agent.';
const HELPER = 'You are the chaos helper agent.';
const COORDINATOR = 'You are the chaos coordinator agent.';

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (b && typeof b === 'object' && 'text' in b ? String(b.text) : JSON.stringify(b))).join('');
  return JSON.stringify(content);
}

function results(req: MessageRequest): string[] {
  return req.messages.flatMap((m) =>
    Array.isArray(m.content) ? m.content.filter((b) => b.type === 'tool_result').map((b) => text((b as { content?: unknown }).content)) : [],
  );
}

function toolTurns(req: MessageRequest): number {
  return req.messages.filter((m) => Array.isArray(m.content) && m.content.some((b) => b.type === 'tool_result')).length;
}

function itemOf(req: MessageRequest): number {
  return Number(/item (\d+)/.exec(JSON.stringify(req.messages[0]!.content))?.[1] ?? -1);
}

/** Two parallel lookups, then a doubling, then an answer quoting every result in order. */
function stepsAgent(req: MessageRequest) {
  const n = itemOf(req);
  const turns = toolTurns(req);
  if (turns === 0) return reply.toolUses([{ name: 'lookup', input: { key: n } }, { name: 'lookup', input: { key: n + 1 } }]);
  if (turns === 1) return reply.toolUse('double', { n });
  return reply.text(`item ${n}: ${results(req).join(',')}`);
}

function helperAgent(req: MessageRequest) {
  const n = itemOf(req);
  if (toolTurns(req) === 0) return reply.toolUse('lookup', { key: n });
  return reply.text(`helper ${n}: ${results(req).join(',')}`);
}

function coordinatorAgent(req: MessageRequest) {
  const n = itemOf(req);
  if (toolTurns(req) === 0) return reply.toolUse('chaos_helper', { task: `look up item ${n}` });
  return reply.text(`coordinated ${n}: ${results(req).join(',')}`);
}

export type RunKind = 'batch' | 'fast' | 'delegation';

export interface RunSpec {
  id: string;
  kind: RunKind;
  n: number;
  expected: string;
  /** Messages the run (root) should end with. */
  messages: number;
}

// Worker processes --------------------------------------------------------------------------------------

export interface WorkerProc {
  name: string;
  proc: ChildProcess;
  instanceId: string;
  pid: number;
  exited: boolean;
  /** Why we ended it ('SIGKILL', 'SIGTERM'); null while alive or when it died on its own. */
  endedBy: string | null;
  /** Stopped with SIGSTOP and not resumed yet. */
  paused: boolean;
  output: () => string;
  exit: Promise<void>;
}

export interface ScenarioReport {
  scenario: string;
  runs: number;
  kills: number;
  recoveryMs: number;
  lostRuns: number;
  duplicateMessages: number;
  duplicateToolExecutions: number;
  executionsPerToolUse: Record<string, number>;
  missingSideEffects: number;
  batchResultsAppliedTwice: number;
  integrity: string[];
  messageCountMismatches: number;
  crashedWorkers: string[];
  notes: string[];
  lost: { id: string; kind: RunKind; state: string; text: string | null; error: string | null }[];
}

/**
 * One scenario's world: a fresh database on the suite's own PostgreSQL server, an emulator, worker processes,
 * and a client (not started) that creates the runs. Records every disruption, so it can report recovery time.
 */
export class Cluster {
  readonly workers: WorkerProc[] = [];
  readonly client: AgentPG<pg.PoolClient>;
  readonly notes: string[] = [];
  kills = 0;
  lastDisruption = 0;
  private spawning: Promise<unknown>[] = [];
  private seq = 0;
  private specs: RunSpec[] = [];

  private constructor(
    readonly name: string,
    readonly server: EmbeddedPostgres,
    readonly dbName: string,
    readonly url: string,
    readonly pool: pg.Pool,
    readonly emu: Emulator,
    private readonly workerEnv: Record<string, string>,
  ) {
    this.client = new AgentPG({ driver: pgDriver(pool), runPollIntervalMs: 300 });
  }

  static async open(server: EmbeddedPostgres, name: string, workerEnv: Record<string, string> = {}): Promise<Cluster> {
    const dbName = `chaos_${name.replace(/[^a-z0-9]/g, '_')}_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${dbName}"`);
    await admin.end();
    const url = withDatabase(server.url, dbName);
    const pool = new pg.Pool({ connectionString: url, max: 6, application_name: 'chaos-driver' });
    pool.on('error', () => {});
    await migrate(pgDriver(pool));
    await pool.query(
      `CREATE TABLE side_effects (id bigserial PRIMARY KEY, execution_id uuid, tool_use_id text, tool text, instance text, attempt int, at timestamptz DEFAULT now())`,
    );
    const emu = await startEmulator({ batchLatencyMs: 60 });
    emu.script({ system: STEPS }, stepsAgent).repeatLast();
    emu.script({ system: HELPER }, helperAgent).repeatLast();
    emu.script({ system: COORDINATOR }, coordinatorAgent).repeatLast();
    return new Cluster(name, server, dbName, url, pool, emu, workerEnv);
  }

  /** Starts a worker process; resolves when it is registered and working. */
  spawnWorker(extraEnv: Record<string, string> = {}): Promise<WorkerProc> {
    const name = `${this.name}-w${++this.seq}`;
    const proc = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, AGENTPG_TEST_DB: this.url, AGENTPG_TEST_EMULATOR: this.emu.url, AGENTPG_WORKER_NAME: name, ...this.workerEnv, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const p = new Promise<WorkerProc>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${name} did not start within 60 s:\n${out}`)), 60_000);
      const onData = () => {
        const m = /READY (\S+) (\d+)/.exec(out);
        if (!m) return;
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        const w: WorkerProc = {
          name,
          proc,
          instanceId: m[1]!,
          pid: Number(m[2]),
          exited: false,
          endedBy: null,
          paused: false,
          output: () => out,
          exit: new Promise<void>((r) => proc.once('exit', () => r())),
        };
        void w.exit.then(() => (w.exited = true));
        if (proc.exitCode !== null || proc.signalCode !== null) w.exited = true;
        this.workers.push(w);
        resolve(w);
      };
      proc.stdout!.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker ${name} exited (${code ?? signal}) before READY:\n${out}`));
      });
    });
    this.spawning.push(p.catch(() => {}));
    return p;
  }

  alive(): WorkerProc[] {
    return this.workers.filter((w) => !w.exited && w.endedBy === null);
  }

  disrupted(): void {
    this.lastDisruption = Date.now();
  }

  /** SIGKILL: the process vanishes mid-instruction, holding whatever it held. */
  async kill(w: WorkerProc, why: string): Promise<void> {
    w.endedBy = 'SIGKILL';
    process.kill(w.pid, 'SIGKILL');
    this.kills++;
    this.disrupted();
    this.notes.push(`killed ${w.name} ${why}`);
    await w.exit;
  }

  /** SIGSTOP: the process freezes (a long GC pause, a suspended VM) and keeps its claims in memory. */
  pause(w: WorkerProc): void {
    process.kill(w.pid, 'SIGSTOP');
    w.paused = true;
    this.disrupted();
  }

  resume(w: WorkerProc): void {
    process.kill(w.pid, 'SIGCONT');
    w.paused = false;
    this.disrupted();
  }

  /** SIGTERM: a graceful stop (a deploy). Resolves with the stop() duration the worker reported. */
  async terminate(w: WorkerProc): Promise<number> {
    w.endedBy = 'SIGTERM';
    process.kill(w.pid, 'SIGTERM');
    this.disrupted();
    await w.exit;
    return Number(/STOPPED (\d+)/.exec(w.output())?.[1] ?? NaN);
  }

  /** Kills every database connection of the workers (their pools and LISTEN connections). */
  async terminateConnections(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'agentpg-worker'`,
      [this.dbName],
    );
    this.disrupted();
    return rows[0]!.n;
  }

  /**
   * Waits (up to `timeoutMs`) until `ownersSql` names a live worker (one row per claim, column `owner`), then
   * SIGKILLs it and starts a replacement. Returns false when no such moment came.
   */
  async killWhen(why: string, ownersSql: string, timeoutMs = 10_000): Promise<boolean> {
    const target = await waitFor(
      async () => {
        const { rows } = await this.pool.query<{ owner: string }>(ownersSql);
        const owners = new Set(rows.map((r) => r.owner));
        return this.alive().find((w) => owners.has(w.instanceId)) ?? null;
      },
      { timeoutMs, intervalMs: 10, message: why },
    ).catch(() => null);
    if (!target) {
      this.notes.push(`no moment ${why} within ${timeoutMs} ms (skipped)`);
      return false;
    }
    await this.kill(target, why);
    void this.spawnWorker();
    return true;
  }

  /** Creates the runs: batch-mode three-step runs, fast-mode ones, and delegations (a coordinator asking a helper). */
  async createRuns(counts: Partial<Record<RunKind, number>>): Promise<RunSpec[]> {
    const c = this.client;
    const steps = await c.getOrCreateAgent({ name: 'chaos_steps', model: 'claude-haiku-5-5', systemPrompt: STEPS, tools: ['lookup', 'double'] });
    const helper = await c.getOrCreateAgent({ name: 'chaos_helper', model: 'claude-haiku-5-5', systemPrompt: HELPER, tools: ['lookup'] });
    const coord = await c.getOrCreateAgent({ name: 'chaos_coordinator', model: 'claude-haiku-5-5', systemPrompt: COORDINATOR, agentIds: [helper.id] });
    const plan: { kind: RunKind; n: number }[] = [];
    let n = this.specs.length * 10 + 1;
    for (const kind of ['batch', 'fast', 'delegation'] as RunKind[]) {
      for (let i = 0; i < (counts[kind] ?? 0); i++) plan.push({ kind, n: (n += 3) });
    }
    const made = await Promise.all(
      plan.map(async ({ kind, n }) => {
        const session = await c.newSession({ metadata: { scenario: this.name } });
        const prompt = `process item ${n}`;
        const id =
          kind === 'batch'
            ? await c.run(session, steps.id, prompt)
            : kind === 'fast'
              ? await c.runFast(session, steps.id, prompt)
              : await c.run(session, coord.id, prompt);
        const expected = kind === 'delegation' ? `coordinated ${n}: helper ${n}: value-${n}` : `item ${n}: value-${n},value-${n + 1},${2 * n}`;
        return { id, kind, n, expected, messages: kind === 'delegation' ? 4 : 6 } satisfies RunSpec;
      }),
    );
    this.specs.push(...made);
    return made;
  }

  /** Waits until every run created so far is finished (errors from a database restart are retried). */
  async waitAllTerminal(timeoutMs: number): Promise<number> {
    const ids = this.specs.map((s) => s.id);
    try {
      await this.untilTerminal(ids, timeoutMs);
    } catch (err) {
      console.log(await this.diagnose(ids));
      throw err;
    }
    return Date.now();
  }

  /** What the unfinished runs wait for, and what the workers said: printed when a scenario does not finish. */
  async diagnose(ids: string[]): Promise<string> {
    const q = async (sql: string, params: unknown[] = []) => JSON.stringify((await this.pool.query(sql, params)).rows, null, 0);
    const parts = [
      `[reliability] ${this.name}: DIAGNOSIS`,
      'unfinished runs: ' +
        (await q(
          `SELECT r.id, r.state, r.mode, r.parent_run_id IS NOT NULL AS child, i.iteration_number, i.state AS it_state, i.lease_owner AS it_owner,
                  i.lease_expires_at AS it_exp, i.attempt, i.scheduled_at, b.state AS b_state, b.lease_owner AS b_owner, b.lease_expires_at AS b_exp, b.next_poll_at
           FROM agentpg.runs r LEFT JOIN agentpg.iterations i ON i.id = r.current_iteration_id LEFT JOIN agentpg.batches b ON b.id = i.batch_id
           WHERE r.finalized_at IS NULL LIMIT 20`,
        )),
      'open tool calls: ' +
        (await q(`SELECT id, run_id, tool_name, state, lease_owner, lease_expires_at, attempt, scheduled_at, last_error FROM agentpg.tool_executions WHERE completed_at IS NULL LIMIT 20`)),
      'instances: ' + (await q(`SELECT id, name, last_heartbeat_at, now() AS now FROM agentpg.instances`)),
      'leader: ' + (await q(`SELECT leader_id, fencing_token, expires_at, now() AS now FROM agentpg.leader`)),
      'workers: ' + this.workers.map((w) => `${w.name}=${w.instanceId} exited=${w.exited} endedBy=${w.endedBy}`).join(', '),
      ...this.workers.filter((w) => !w.exited).map((w) => `--- ${w.name} output tail:\n${w.output().slice(-3000)}`),
    ];
    return parts.join('\n');
  }

  /** The last runs to finish, step by step (relative to the last disruption): where recovery time went. */
  async timeline(ids: string[]): Promise<string> {
    const base = this.lastDisruption;
    const rel = (d: Date | null) => (d ? ((d.getTime() - base) / 1000).toFixed(2) : '-');
    const { rows: last } = await this.pool.query<{ id: string; mode: string; finalized_at: Date }>(
      `SELECT id, mode, finalized_at FROM agentpg.runs WHERE id = ANY($1::uuid[]) ORDER BY finalized_at DESC LIMIT 4`,
      [ids],
    );
    const lines = [`[reliability] ${this.name}: slowest runs (seconds after the last disruption)`];
    for (const r of last) {
      lines.push(`  run ${r.id.slice(0, 8)} ${r.mode} finalized ${rel(r.finalized_at)}`);
      const { rows: its } = await this.pool.query<Record<string, any>>(
        `SELECT i.iteration_number, i.created_at, i.started_at, i.completed_at, i.attempt, i.error_message, b.submitted_at, b.ended_at, b.poll_count
         FROM agentpg.iterations i LEFT JOIN agentpg.batches b ON b.id = i.batch_id WHERE i.run_id = $1 ORDER BY 1`,
        [r.id],
      );
      for (const i of its) {
        lines.push(
          `    it${i.iteration_number} created ${rel(i.created_at)} started ${rel(i.started_at)} submitted ${rel(i.submitted_at)} ended ${rel(i.ended_at)} done ${rel(i.completed_at)} attempt ${i.attempt} polls ${i.poll_count ?? '-'} ${i.error_message ?? ''}`,
        );
      }
      const { rows: tes } = await this.pool.query<Record<string, any>>(
        `SELECT tool_name, created_at, started_at, completed_at, attempt, last_error FROM agentpg.tool_executions WHERE run_id = $1 ORDER BY created_at`,
        [r.id],
      );
      for (const e of tes) lines.push(`    ${e.tool_name} created ${rel(e.created_at)} started ${rel(e.started_at)} done ${rel(e.completed_at)} attempt ${e.attempt} ${e.last_error ?? ''}`);
    }
    return lines.join('\n');
  }

  private async untilTerminal(ids: string[], timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM agentpg.runs WHERE id = ANY($1::uuid[]) AND finalized_at IS NULL`, [ids]);
        return rows[0]!.n === 0;
      },
      { timeoutMs, intervalMs: 50, message: `all ${ids.length} runs of ${this.name} to finish` },
    );
  }

  /** Checks every invariant over the scenario's database and prints its line. */
  async verify(finishedAt: number): Promise<ScenarioReport> {
    const ids = this.specs.map((s) => s.id);
    const { rows: runs } = await this.pool.query<{ id: string; state: string; response_text: string | null; error_message: string | null; messages: number }>(
      `SELECT r.id, r.state, r.response_text, r.error_message, (SELECT count(*)::int FROM agentpg.messages m WHERE m.run_id = r.id) AS messages
       FROM agentpg.runs r WHERE r.id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(runs.map((r) => [r.id, r]));
    const lost = this.specs
      .map((s) => ({ s, r: byId.get(s.id) }))
      .filter(({ s, r }) => !r || r.state !== 'completed' || r.response_text !== s.expected)
      .map(({ s, r }) => ({ id: s.id, kind: s.kind, state: r?.state ?? 'missing', text: r?.response_text ?? null, error: r?.error_message ?? null }));
    const mismatched = this.specs.filter((s) => byId.get(s.id)?.messages !== s.messages).length;
    const { rows: children } = await this.pool.query<{ bad: number }>(
      `SELECT count(*)::int AS bad FROM agentpg.runs c WHERE c.parent_run_id = ANY($1::uuid[])
         AND (c.state <> 'completed' OR (SELECT count(*) FROM agentpg.messages m WHERE m.run_id = c.id) <> 4)`,
      [ids],
    );
    const { rows: dup } = await this.pool.query<{ assistant: number; results: number; prompts: number; batch_twice: number }>(
      `SELECT
         (SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM agentpg.messages WHERE role = 'assistant' GROUP BY iteration_id HAVING count(*) > 1) x) AS assistant,
         (SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM agentpg.messages m WHERE role = 'user'
             AND EXISTS (SELECT 1 FROM agentpg.content_blocks b WHERE b.message_id = m.id AND b.type = 'tool_result') GROUP BY iteration_id HAVING count(*) > 1) x) AS results,
         (SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM agentpg.messages m WHERE role = 'user' AND run_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM agentpg.content_blocks b WHERE b.message_id = m.id AND b.type = 'tool_result') GROUP BY run_id HAVING count(*) > 1) x) AS prompts,
         (SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM agentpg.messages m JOIN agentpg.iterations i ON i.id = m.iteration_id
             WHERE m.role = 'assistant' AND i.mode = 'batch' GROUP BY m.iteration_id HAVING count(*) > 1) x) AS batch_twice`,
    );
    const { rows: execs } = await this.pool.query<{ n: number; uses: number }>(
      `SELECT n, count(*)::int AS uses FROM (
         SELECT u.tool_use_id, (SELECT count(*)::int FROM side_effects s WHERE s.tool_use_id = u.tool_use_id) AS n
         FROM agentpg.content_blocks u WHERE u.type = 'tool_use' AND u.tool_name IN ('lookup', 'double')) x
       GROUP BY n ORDER BY n`,
    );
    const histogram: Record<string, number> = {};
    for (const e of execs) histogram[`${e.n}x`] = e.uses;
    if (process.env.AGENTPG_CHAOS_TIMELINE) console.log(await this.timeline(ids));
    if (process.env.AGENTPG_CHAOS_DUMP) {
      const { writeFileSync } = await import('node:fs');
      for (const w of this.workers) writeFileSync(`${process.env.AGENTPG_CHAOS_DUMP}/${w.name}.log`, w.output());
    }
    const integrity = await integrityProblems(pgDriver(this.pool));
    const d = dup[0]!;
    if (children[0]!.bad > 0) integrity.push(`${children[0]!.bad} child run(s) not completed with exactly 4 messages`);
    const report: ScenarioReport = {
      scenario: this.name,
      runs: this.specs.length,
      kills: this.kills,
      recoveryMs: this.lastDisruption ? Math.max(0, finishedAt - this.lastDisruption) : 0,
      lostRuns: lost.length,
      duplicateMessages: d.assistant + d.results + d.prompts,
      duplicateToolExecutions: execs.filter((e) => e.n > 1).reduce((s, e) => s + e.uses * (e.n - 1), 0),
      executionsPerToolUse: histogram,
      missingSideEffects: execs.find((e) => e.n === 0)?.uses ?? 0,
      batchResultsAppliedTwice: d.batch_twice,
      integrity,
      messageCountMismatches: mismatched,
      crashedWorkers: this.workers.filter((w) => w.exited && w.endedBy === null).map((w) => `${w.name}:\n${w.output().slice(-2000)}`),
      notes: this.notes,
      lost,
    };
    console.log(
      `[reliability] ${report.scenario}: runs=${report.runs} kills=${report.kills} recovery=${(report.recoveryMs / 1000).toFixed(1)}s ` +
        `lost runs=${report.lostRuns} duplicate messages=${report.duplicateMessages} duplicate tool executions=${report.duplicateToolExecutions} ` +
        `(executions per tool_use: ${Object.entries(histogram).map(([k, v]) => `${k}=${v}`).join(' ')}) ` +
        `batch results applied twice=${report.batchResultsAppliedTwice} integrity problems=${report.integrity.length}`,
    );
    if (this.notes.length > 0) console.log(`[reliability] ${report.scenario} notes: ${this.notes.join('; ')}`);
    return report;
  }

  /** Stops every worker still running (gracefully), then the emulator, and drops the database. */
  async close(): Promise<void> {
    await Promise.allSettled(this.spawning);
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.exited) return;
        if (w.paused) process.kill(w.pid, 'SIGCONT');
        w.endedBy ??= 'SIGTERM';
        try {
          process.kill(w.pid, 'SIGTERM');
        } catch {
          return;
        }
        const t = setTimeout(() => {
          try {
            process.kill(w.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 10_000);
        await w.exit;
        clearTimeout(t);
      }),
    );
    await this.emu.close();
    await this.pool.end().catch(() => {});
    const admin = new pg.Client({ connectionString: this.server.url });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

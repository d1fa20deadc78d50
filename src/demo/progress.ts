import type { AgentPG } from '../client.js';
import type { LifecycleHooks } from '../engine/hooks.js';
import type { Logger } from '../logger.js';
import type { Run, RunMode } from '../types.js';

export type WorkerName = 'worker-a' | 'worker-b';

/** What each worker did, counted from its hooks and its log. */
export interface WorkerStats {
  batchesSubmitted: number;
  requestsSubmitted: number;
  batchResultsApplied: number;
  streamedCalls: number;
  toolCalls: number;
  toolNames: Map<string, number>;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function oneLine(value: unknown, max = 60): string {
  const s = (typeof value === 'string' ? value : JSON.stringify(value)).replace(/\s+/g, ' ').trim();
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * The live part of the demo's output. Each worker reports through its own lifecycle hooks and logger, so every
 * line says which instance did what; a watcher polls the runs table for child runs and finished runs, which
 * any instance may produce.
 */
export class Progress {
  readonly stats = new Map<WorkerName, WorkerStats>();
  private readonly t0 = Date.now();
  private readonly labels = new Map<string, string>();
  private readonly modes = new Map<string, RunMode>();
  private readonly childCount = new Map<string, number>();
  private readonly finished = new Set<string>();
  private readonly inputs = new Map<string, unknown>();
  private readonly pendingResults = new Map<WorkerName, { runIds: string[]; at: number; timer: ReturnType<typeof setTimeout> }>();
  private flushing = false;
  private watching = false;
  private watcher: Promise<void> | null = null;
  private client: AgentPG | null = null;
  private lastStates = '';

  constructor(
    private readonly out: (line: string) => void,
    private readonly agentNames: Map<string, string>,
  ) {}

  /** A line of the live log: elapsed time, the instance (or blank), the text. */
  line(who: WorkerName | '', text: string, at = Date.now()): void {
    // Batch results reported so far come first, so the log reads in order.
    if (this.pendingResults.size > 0 && !this.flushing) this.flushAllResults();
    const s = ((at - this.t0) / 1000).toFixed(1).padStart(5);
    this.out(`  ${s}s  ${who.padEnd(8)}  ${text}`);
  }

  track(runId: string, label: string, mode: RunMode): void {
    this.labels.set(runId, label);
    this.modes.set(runId, mode);
  }

  label(runId: string): string {
    return this.labels.get(runId) ?? `run ${runId.slice(0, 8)}`;
  }

  private statsOf(w: WorkerName): WorkerStats {
    let s = this.stats.get(w);
    if (!s) {
      s = { batchesSubmitted: 0, requestsSubmitted: 0, batchResultsApplied: 0, streamedCalls: 0, toolCalls: 0, toolNames: new Map() };
      this.stats.set(w, s);
    }
    return s;
  }

  /** The lifecycle hooks of one worker. */
  hooks(w: WorkerName): LifecycleHooks {
    this.statsOf(w);
    return {
      onIterationStart: async (e) => {
        if (e.mode !== 'streaming') return; // batch submissions are reported per batch, from the log
        this.statsOf(w).streamedCalls++;
        await this.resolve(e.runId);
        this.line(w, `streams model call ${e.index} of ${this.label(e.runId)} (Messages API, streaming)`);
      },
      onIterationEnd: (e) => {
        if ((this.modes.get(e.runId) ?? 'batch') !== 'batch') return;
        // A batch's results are applied together: report them as one line, once no more arrive for a moment.
        const p = this.pendingResults.get(w) ?? { runIds: [], at: Date.now(), timer: setTimeout(() => {}, 0) };
        clearTimeout(p.timer);
        p.timer = setTimeout(() => this.flushResults(w), 150);
        p.runIds.push(e.runId);
        this.pendingResults.set(w, p);
      },
      onToolStart: (e) => {
        this.inputs.set(e.executionId, e.input);
      },
      onToolEnd: async (e) => {
        await this.resolve(e.runId);
        const input = this.inputs.get(e.executionId);
        const s = this.statsOf(w);
        if (e.state === 'completed' || e.state === 'failed') {
          s.toolCalls++;
          s.toolNames.set(e.toolName, (s.toolNames.get(e.toolName) ?? 0) + 1);
        }
        const result = e.state === 'completed' ? `→ ${oneLine(e.output, 50)}` : `${e.state}${e.isError ? ` (${oneLine(e.output, 50)})` : ''}`;
        this.line(w, `ran ${e.toolName} ${oneLine(input ?? {}, 40)} for ${this.label(e.runId)} ${result} (${e.durationMs} ms)`);
      },
    };
  }

  private flushAllResults(): void {
    for (const w of [...this.pendingResults.keys()]) this.flushResults(w);
  }

  private flushResults(w: WorkerName): void {
    const p = this.pendingResults.get(w);
    if (!p) return;
    clearTimeout(p.timer);
    this.pendingResults.delete(w);
    this.statsOf(w).batchResultsApplied += p.runIds.length;
    const runs = p.runIds
      .map((id) => this.label(id))
      .sort((x, y) => x.localeCompare(y, 'en', { numeric: true }))
      .join(' ');
    this.flushing = true;
    try {
      this.line(w, `fetched a finished batch: ${p.runIds.length} result${p.runIds.length === 1 ? '' : 's'} applied (${runs})`, p.at);
    } finally {
      this.flushing = false;
    }
  }

  /** The logger of one worker: counts batch submissions; warnings go to stderr. */
  logger(w: WorkerName): Logger {
    return {
      debug: (msg, fields) => {
        if (msg !== 'batch submitted') return;
        const n = Number(fields?.requests ?? 0);
        const s = this.statsOf(w);
        s.batchesSubmitted++;
        s.requestsSubmitted += n;
        this.line(w, `submitted Message Batch ${String(fields?.anthropicBatchId)} with ${n} request${n === 1 ? '' : 's'}`);
      },
      info: () => {},
      warn: (msg, fields) => process.stderr.write(`[${w}] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`),
      error: (msg, fields) => process.stderr.write(`[${w}] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`),
    };
  }

  /** Polls the runs table: names child runs as they appear and reports runs as they finish. */
  watch(client: AgentPG, intervalMs = 100): void {
    this.watching = true;
    this.client = client;
    const loop = async () => {
      while (this.watching) {
        try {
          const page = await client.listRuns({ limit: 1000 });
          // Oldest first, so parents are named before their children.
          for (const r of [...page.items].reverse()) this.observe(r);
          this.reportStates(page.items);
        } catch {
          // the next round will tell
        }
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    };
    this.watcher = loop();
  }

  /** Names a run the hooks mention before the watcher saw it (a child run that started streaming at once). */
  private async resolve(runId: string): Promise<void> {
    if (this.labels.has(runId) || !this.client) return;
    const run = await this.client.getRun(runId).catch(() => null);
    if (run) this.adopt(run);
  }

  private adopt(r: Run): void {
    if (this.labels.has(r.id) || !r.parentRunId || !this.labels.has(r.parentRunId)) return;
    const n = (this.childCount.get(r.parentRunId) ?? 0) + 1;
    this.childCount.set(r.parentRunId, n);
    const label = `${this.label(r.parentRunId)}.${n}`;
    this.track(r.id, label, r.mode);
    this.line('', `${label} ${this.agentNames.get(r.agentId) ?? 'agent'}: child run started (delegated by ${this.label(r.parentRunId)})`);
  }

  /** One line whenever the mix of unfinished run states changes: the state machine at work. */
  private reportStates(runs: Run[]): void {
    const counts = new Map<string, number>();
    for (const r of runs) if (!TERMINAL.has(r.state) && this.labels.has(r.id)) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
    const order = ['pending', 'batch_submitting', 'batch_pending', 'streaming', 'pending_tools'];
    const text = order.filter((st) => counts.has(st)).map((st) => `${st} ×${counts.get(st)}`).join(', ');
    if (text && text !== this.lastStates) this.line('', `states: ${text}`);
    this.lastStates = text;
  }

  private observe(r: Run): void {
    this.adopt(r);
    if (TERMINAL.has(r.state) && this.labels.has(r.id) && !this.finished.has(r.id)) {
      this.finished.add(r.id);
      const detail = r.state === 'failed' ? `: ${r.errorType} ${r.errorMessage ?? ''}` : `, ${r.iterationCount} model call${r.iterationCount === 1 ? '' : 's'}`;
      this.line('', `${this.label(r.id)} ${r.state}${detail}`);
    }
  }

  /** Waits until every tracked run was reported finished (or the deadline passes). */
  async settled(runIds: string[], timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (runIds.some((id) => !this.finished.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  async stop(): Promise<void> {
    this.watching = false;
    await this.watcher;
    this.flushAllResults();
  }
}

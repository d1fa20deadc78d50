import type { Driver } from '../db/driver.js';
import type { Logger } from '../logger.js';
import type { JsonValue, RunMode, RunResponse, RunState, ToolExecutionState } from '../types.js';
import { channel, type Tables } from '../store/tables.js';

/** What `client.events(runId)` yields, in order, for a run followed from any process. */
export type RunEvent =
  | { type: 'run_state'; runId: string; state: RunState }
  | { type: 'iteration_start'; runId: string; iteration: number; mode: RunMode }
  | { type: 'text_delta'; runId: string; iteration: number; text: string }
  | { type: 'iteration_end'; runId: string; iteration: number; stopReason: string | null; text: string }
  | { type: 'tool_start'; runId: string; executionId: string; toolUseId: string; name: string; input: JsonValue }
  | {
      type: 'tool_end';
      runId: string;
      executionId: string;
      toolUseId: string;
      name: string;
      state: ToolExecutionState;
      isError: boolean;
      output: JsonValue | null;
      durationMs: number | null;
    }
  | { type: 'child_run'; runId: string; childRunId: string; agentId: string; toolUseId: string }
  | { type: 'done'; runId: string; state: 'completed' | 'failed' | 'cancelled'; response?: RunResponse; error?: { type: string | null; message: string | null } };

/** NOTIFY payloads must stay under PostgreSQL's 8000 bytes: deltas are sent in chunks below this. */
const MAX_DELTA_BYTES = 7000;

/**
 * Publishes streamed text to followers in other processes: deltas of a run are coalesced for a few
 * milliseconds and sent as NOTIFY payloads under the size limit. Best effort by design: a follower that
 * misses them still gets the whole text in `iteration_end`.
 */
export class DeltaPublisher {
  private readonly buffers = new Map<string, { iteration: number; text: string; timer: ReturnType<typeof setTimeout> }>();
  private readonly chan: string;

  constructor(
    private readonly driver: Driver,
    t: Tables,
    private readonly logger: Logger,
    private readonly enabled: boolean,
    private readonly intervalMs = 50,
  ) {
    this.chan = channel(t.schema, 'event');
  }

  push(runId: string, iteration: number, text: string): void {
    if (!this.enabled || !text) return;
    const b = this.buffers.get(runId);
    if (b && b.iteration === iteration) {
      b.text += text;
      if (Buffer.byteLength(b.text) > MAX_DELTA_BYTES) this.flush(runId);
      return;
    }
    if (b) this.flush(runId);
    const timer = setTimeout(() => this.flush(runId), this.intervalMs);
    timer.unref?.();
    this.buffers.set(runId, { iteration, text, timer });
  }

  flush(runId: string): void {
    this.publish(this.take(runId));
  }

  /**
   * The run's unsent text as NOTIFY payloads for the event channel, taken out of the buffer: the caller sends
   * them with its own statement (the streamer puts them in the one that records the response).
   */
  take(runId: string): string[] {
    const b = this.buffers.get(runId);
    if (!b) return [];
    clearTimeout(b.timer);
    this.buffers.delete(runId);
    return chunks(b.text, MAX_DELTA_BYTES).map((part) => JSON.stringify({ r: runId, t: 'd', i: b.iteration, x: part }));
  }

  /** Sends payloads from {@link take}, in order, in one statement. */
  publish(payloads: readonly string[]): void {
    if (payloads.length === 0) return;
    const sql = payloads.length === 1 ? 'SELECT pg_notify($1, $2)' : 'SELECT pg_notify($1, e) FROM unnest($2::text[]) AS e';
    this.driver.query(sql, [this.chan, payloads.length === 1 ? payloads[0]! : payloads]).catch((err) => {
      this.logger.debug('events: publishing a text delta failed', { error: String(err) });
    });
  }
}

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes (JSON escaping may grow them; the margin covers it). */
function chunks(text: string, maxBytes: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (Buffer.byteLength(cur) + Buffer.byteLength(ch) > maxBytes / 2) {
      out.push(cur);
      cur = '';
    }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

interface Snapshot {
  state: RunState;
  done: boolean;
  iterations: { id: string; n: number; state: string; mode: RunMode; stop: string | null; text: string | null }[];
  tools: {
    id: string;
    iter: string;
    use: string;
    name: string;
    input: JsonValue;
    state: ToolExecutionState;
    output: JsonValue | null;
    err: boolean;
    child: string | null;
    agent: string | null;
    started: string | null;
    completed: string | null;
  }[];
}

export async function runSnapshot(driver: Driver, t: Tables, runId: string): Promise<Snapshot | null> {
  const { rows } = await driver.query<Snapshot>(
    `SELECT r.state, r.finalized_at IS NOT NULL AS done,
       coalesce((SELECT json_agg(json_build_object('id', i.id, 'n', i.iteration_number, 'state', i.state, 'mode', i.mode,
           'stop', i.stop_reason,
           'text', (SELECT string_agg(cb.text, '' ORDER BY cb.block_index) FROM ${t.content_blocks} cb
                    WHERE cb.message_id = i.response_message_id AND cb.type = 'text'))
         ORDER BY i.iteration_number) FROM ${t.iterations} i WHERE i.run_id = r.id), '[]') AS iterations,
       coalesce((SELECT json_agg(json_build_object('id', te.id, 'iter', te.iteration_id, 'use', te.tool_use_id, 'name', te.tool_name, 'input', te.tool_input,
           'state', te.state, 'output', te.output, 'err', te.is_error, 'child', te.child_run_id, 'agent', te.agent_id,
           'started', te.started_at, 'completed', te.completed_at)
         ORDER BY te.created_at, te.block_index) FROM ${t.tool_executions} te WHERE te.run_id = r.id), '[]') AS tools
     FROM ${t.runs} r WHERE r.id = $1`,
    [runId],
  );
  return rows[0] ?? null;
}

/** Turns successive snapshots (plus pushed deltas) into the ordered event stream of one run. */
export class EventDiffer {
  private state: RunState | null = null;
  private readonly started = new Set<number>();
  private readonly ended = new Set<number>();
  private readonly toolsStarted = new Set<string>();
  private readonly toolsEnded = new Set<string>();
  private readonly children = new Set<string>();
  private deltas: { iteration: number; text: string }[] = [];

  constructor(private readonly runId: string) {}

  pushDelta(iteration: number, text: string): void {
    if (!this.ended.has(iteration)) this.deltas.push({ iteration, text });
  }

  /** Events per iteration in the run's own order: the model call (start, deltas, end), then its tool calls. */
  diff(s: Snapshot): RunEvent[] {
    const runId = this.runId;
    const out: RunEvent[] = [];
    if (s.state !== this.state) {
      this.state = s.state;
      out.push({ type: 'run_state', runId, state: s.state });
    }
    for (const it of s.iterations) {
      if (it.state === 'pending') continue;
      if (!this.started.has(it.n)) {
        this.started.add(it.n);
        out.push({ type: 'iteration_start', runId, iteration: it.n, mode: it.mode });
      }
      const mine = this.deltas.filter((d) => d.iteration === it.n);
      this.deltas = this.deltas.filter((d) => d.iteration !== it.n);
      if (!this.ended.has(it.n)) {
        for (const d of mine) out.push({ type: 'text_delta', runId, iteration: d.iteration, text: d.text });
        if (!['completed', 'failed', 'cancelled'].includes(it.state)) continue;
        this.ended.add(it.n);
        out.push({ type: 'iteration_end', runId, iteration: it.n, stopReason: it.stop, text: it.text ?? '' });
      }
      for (const te of s.tools) if (te.iter === it.id) this.toolEvents(te, out);
    }
    return out;
  }

  private toolEvents(te: Snapshot['tools'][number], out: RunEvent[]): void {
    const runId = this.runId;
    const terminal = !['pending', 'running'].includes(te.state);
    if ((te.state === 'running' || terminal) && !this.toolsStarted.has(te.id)) {
      this.toolsStarted.add(te.id);
      out.push({ type: 'tool_start', runId, executionId: te.id, toolUseId: te.use, name: te.name, input: te.input });
    }
    if (te.child && !this.children.has(te.child)) {
      this.children.add(te.child);
      out.push({ type: 'child_run', runId, childRunId: te.child, agentId: te.agent ?? '', toolUseId: te.use });
    }
    if (terminal && !this.toolsEnded.has(te.id)) {
      this.toolsEnded.add(te.id);
      out.push({
        type: 'tool_end',
        runId,
        executionId: te.id,
        toolUseId: te.use,
        name: te.name,
        state: te.state,
        isError: te.err,
        output: te.output,
        durationMs: te.started && te.completed ? new Date(te.completed).getTime() - new Date(te.started).getTime() : null,
      });
    }
  }
}

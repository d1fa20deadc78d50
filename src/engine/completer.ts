import type Anthropic from '@anthropic-ai/sdk';
import type { Driver, Queryable } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { ContentBlockParam, IterationState } from '../types.js';
import type { Tables } from '../store/tables.js';
import { recordResponses, type ResponseToRecord } from '../store/responses.js';
import { continueAfterTools, lockRun } from '../store/transitions.js';
import { transactionWithRetry } from '../db/retry.js';
import { applyResponse, classifyResponse, usageOf, type ApplyResult } from './apply-response.js';
import { Batcher, type Queued } from './batcher.js';

/** A model response to apply to its iteration. */
export interface Completion {
  iterationId: string;
  batchId: string | null;
  leaseOwner: string | null;
  message: Pick<Anthropic.Message, 'stop_reason' | 'content' | 'usage'>;
  /** NOTIFY payloads for live followers (the end of the streamed text), sent with the response. */
  events?: string[];
}

type Waiting = Queued<Completion, ApplyResult | null>;

/**
 * Applies model responses in batches, like River's batch completer: whatever finished while the previous batch
 * was being written goes in the next one, so a busy instance writes many responses per statement and an idle one
 * writes each at once (no added delay). Completions and tool calls (the common outcomes) of a batch are recorded
 * by one set-based statement (recordResponses), in a transaction only when some run may have to continue at once;
 * the rarer outcomes (continue, fail, truncated tool calls) take the single-response path. Every write is guarded
 * exactly as in {@link applyResponse}: a response applied twice, or to a cancelled run, changes nothing.
 * If a batch fails as a whole, its responses are applied one by one, so one bad response fails alone.
 */
export class ResponseCompleter {
  /** At most 200 responses per statement, two statements in flight. */
  private readonly batcher = new Batcher<Completion, ApplyResult | null>((b) => this.run(b), { maxBatch: 200, maxInFlight: 2 });

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly fromStates: IterationState[],
    /** Sends event payloads when the batch statement could not carry them. */
    private readonly publishEvents: (payloads: readonly string[]) => void,
  ) {}

  /** Applies the response; resolves with what happened to the run, or null when its guard failed. */
  apply(c: Completion): Promise<ApplyResult | null> {
    return this.batcher.add(c);
  }

  private async run(batch: Waiting[]): Promise<void> {
    const policy = { maxTokensBehavior: this.config.maxTokensBehavior };
    const common: { w: Waiting; item: ResponseToRecord }[] = [];
    const rare: Waiting[] = [];
    for (const w of batch) {
      const item = commonResponse(w.item, policy);
      if (item) common.push({ w, item });
      else rare.push(w);
    }
    if (common.length > 0) {
      try {
        const results = await this.applyCommon(common.map((x) => x.item));
        for (const { w } of common) w.resolve(results.get(w.item.iterationId) ?? null);
      } catch (err) {
        this.config.logger.warn('completer: a batch of responses failed; applying them one by one', { count: common.length, error: String(err) });
        rare.push(...common.map((x) => x.w));
      }
    }
    for (const w of rare) {
      try {
        if (w.item.events?.length) this.publishEvents(w.item.events);
        w.resolve(await transactionWithRetry(this.driver, (tx) => this.applyOne(tx, w.item)));
      } catch (err) {
        w.reject(err);
      }
    }
  }

  private async applyCommon(items: ResponseToRecord[]): Promise<Map<string, ApplyResult>> {
    const write = (db: Queryable) => applyCommonResponses(db, this.t, this.config, this.fromStates, items);
    // One statement commits alone; a run that may have to continue needs its continuation in the same transaction.
    return items.some((i) => i.outcome === 'tools') ? transactionWithRetry(this.driver, write) : write(this.driver);
  }

  private applyOne(tx: Queryable, c: Completion): Promise<ApplyResult | null> {
    return applyResponse(tx, this.t, {
      iterationId: c.iterationId,
      fromStates: this.fromStates,
      batchId: c.batchId,
      leaseOwner: c.leaseOwner,
      message: c.message,
      policy: { maxTokensBehavior: this.config.maxTokensBehavior },
      defaultToolAttempts: this.config.toolRetry.maxAttempts,
    });
  }
}

/**
 * Records responses with the common outcomes (recordResponses), then continues at once every run whose tool calls
 * all ended on the spot (unknown tools, or over the iteration budget), as applyResponse does. When any item has
 * tool calls, `db` must be a transaction. Results by iteration id; an iteration whose guard failed is absent.
 */
export async function applyCommonResponses(
  db: Queryable,
  t: Tables,
  config: ResolvedConfig,
  fromStates: IterationState[],
  items: ResponseToRecord[],
): Promise<Map<string, ApplyResult>> {
  const recorded = await recordResponses(db, t, { fromStates, items, defaultToolAttempts: config.toolRetry.maxAttempts });
  const out = new Map<string, ApplyResult>();
  for (const r of recorded) {
    let runState = r.runState;
    if (r.outcome === 'tools' && r.pendingTools === 0) {
      await lockRun(db, t, r.runId);
      const next = await continueAfterTools(db, t, r.runId, r.iterationId);
      runState = next === 'continued' ? 'pending' : 'failed';
    }
    out.set(r.iterationId, { runId: r.runId, iteration: r.iteration, outcome: r.outcome, runState, pendingTools: r.pendingTools });
  }
  return out;
}

/** The record of a response whose outcome is a common one (complete, or tool calls); null for the others. */
export function commonResponse(
  c: Completion,
  policy: { maxTokensBehavior: 'continue' | 'fail' },
): ResponseToRecord | null {
  const outcome = classifyResponse(c.message, policy);
  if (outcome.kind !== 'complete' && outcome.kind !== 'tools') return null;
  return {
    iterationId: c.iterationId,
    batchId: c.batchId,
    leaseOwner: c.leaseOwner,
    stopReason: c.message.stop_reason,
    content: c.message.content as unknown as ContentBlockParam[],
    usage: usageOf(c.message.usage),
    outcome: outcome.kind,
    uses: outcome.kind === 'tools' ? outcome.uses : [],
    ...(c.events ? { events: c.events } : {}),
  };
}

import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { Loop } from '../engine/loop.js';

/** What a lease is on: a tool execution, a batch (its submission or its polling), a streaming iteration. */
export type LeaseKind = 'tool' | 'batch' | 'iteration';

/** Lets a worker say "I am working on this claim right now"; the returned function says "done". */
export interface LeaseHolder {
  hold(kind: LeaseKind, id: string): () => void;
}

/**
 * Renews, in one statement, the leases of the claims this process is working on right now: the ones held
 * through {@link LeaseHolder.hold} by the tool runner, the streamer, the batch submitter and the poller.
 * Renewing only what is held in memory (not "everything with my name on it") means a claim whose worker
 * lost track of it (its result could not be recorded after a dropped connection, its poll threw) stops
 * being renewed and expires, so the rescuer or another poller takes it over instead of it staying claimed
 * forever by a live process.
 */
export class LeaseKeeper implements LeaseHolder {
  readonly loop: Loop;
  private readonly held: Record<LeaseKind, Map<string, number>> = { tool: new Map(), batch: new Map(), iteration: new Map() };

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
  ) {
    this.loop = new Loop('lease keeper', () => this.renew().then(() => null), Math.max(50, Math.floor(config.leaseMs / 3)), config.logger);
  }

  hold(kind: LeaseKind, id: string): () => void {
    const m = this.held[kind];
    m.set(id, (m.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (m.get(id) ?? 1) - 1;
      if (n <= 0) m.delete(id);
      else m.set(id, n);
    };
  }

  /** Ids currently held, per kind (for tests and diagnostics). */
  heldIds(kind: LeaseKind): string[] {
    return [...this.held[kind].keys()];
  }

  private async renew(): Promise<void> {
    const tools = this.heldIds('tool');
    const batches = this.heldIds('batch');
    const iterations = this.heldIds('iteration');
    if (tools.length === 0 && batches.length === 0 && iterations.length === 0) return;
    const t = this.t;
    await this.driver.query(
      `WITH te AS (
         UPDATE ${t.tool_executions} SET lease_expires_at = now() + $2 * interval '1 millisecond'
         WHERE id = ANY($3::uuid[]) AND lease_owner = $1 AND state = 'running'
       ), it AS (
         UPDATE ${t.iterations} SET lease_expires_at = now() + $2 * interval '1 millisecond'
         WHERE id = ANY($5::uuid[]) AND lease_owner = $1 AND state = 'streaming'
       )
       UPDATE ${t.batches} SET lease_expires_at = now() + $2 * interval '1 millisecond' WHERE id = ANY($4::uuid[]) AND lease_owner = $1`,
      [this.config.instanceId, this.config.leaseMs, tools, batches, iterations],
    );
  }
}

import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { acquireLeadership, releaseLeadership, renewLeadership, type LeaderTerm } from '../store/leader.js';
import { Loop } from '../engine/loop.js';

export interface LeaderCallbacks {
  onElected?(term: LeaderTerm): void;
  onLost?(term: LeaderTerm): void;
}

/**
 * Takes part in the election of the one leader: renews its lease every third of `leaderTtlMs` while it leads,
 * otherwise tries to take the seat when it is free or expired. `term` is what this process believes; the
 * database decides, and every leader write is fenced by the term's token, so a belief that outlived the
 * lease (a paused process) can do no harm.
 */
export class LeaderElector {
  readonly loop: Loop;
  private term: LeaderTerm | null = null;
  /** Terms this process has won (for diagnostics and tests). */
  elections = 0;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly callbacks: LeaderCallbacks = {},
  ) {
    this.loop = new Loop('leader election', () => this.tick(), Math.max(50, Math.floor(config.leaderTtlMs / 3)), config.logger);
  }

  /** The term this process holds, or null. */
  get current(): LeaderTerm | null {
    return this.term;
  }

  private async tick(): Promise<number | null> {
    const { instanceId, leaderTtlMs, logger } = this.config;
    const held = this.term;
    if (held) {
      // A failing statement (connection lost) says nothing about the seat: keep the term and try again; the
      // fence makes our writes harmless if it has in fact ended.
      if (await renewLeadership(this.driver, this.t, held, leaderTtlMs)) return null;
      this.term = null;
      logger.warn('leader election: leadership lost (another instance took over)', { instanceId, token: held.token });
      this.callbacks.onLost?.(held);
    }
    const token = await acquireLeadership(this.driver, this.t, instanceId, leaderTtlMs);
    if (token !== null) {
      this.term = { leaderId: instanceId, token };
      this.elections++;
      logger.info('leader election: this instance is the leader', { instanceId, token });
      this.callbacks.onElected?.(this.term);
    }
    return null;
  }

  /** Stops campaigning and gives the seat up, so another instance takes over at its next attempt. */
  async stop(): Promise<void> {
    await this.loop.stop();
    const held = this.term;
    this.term = null;
    if (held) {
      await releaseLeadership(this.driver, this.t, held).catch((err) =>
        this.config.logger.warn('leader election: releasing leadership failed; it expires on its own', { error: String(err) }),
      );
      this.callbacks.onLost?.(held);
    }
  }
}

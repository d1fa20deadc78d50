import type { Driver } from '../db/driver.js';
import type { Notifier } from '../db/notifier.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import type { LeaderTerm } from '../store/leader.js';
import { Heartbeat } from './heartbeat.js';
import { LeaderElector } from './leader.js';
import { Cleaner, Rescuer } from './rescuer.js';

/**
 * The services that keep a deployment healthy, each a small start/stop loop: every instance heartbeats and
 * takes part in the leader election; only the leader runs the rescuer and the cleaner, fenced by its term.
 */
export class Maintenance {
  readonly heartbeat: Heartbeat;
  readonly elector: LeaderElector;
  readonly rescuer: Rescuer;
  readonly cleaner: Cleaner;
  private offReconnect: (() => void) | null = null;

  constructor(
    driver: Driver,
    t: Tables,
    config: ResolvedConfig,
    private readonly notifier: Notifier | null,
    register: () => Promise<void>,
  ) {
    const term = () => this.elector.current;
    this.heartbeat = new Heartbeat(driver, t, config, register);
    this.rescuer = new Rescuer(driver, t, config, term);
    this.cleaner = new Cleaner(driver, t, config, term, () => this.rescuer.loop.wake());
    this.elector = new LeaderElector(driver, t, config, {
      onElected: () => {
        // A new leader looks at once: whatever the previous one left (or died holding) is due now.
        this.rescuer.loop.wake();
        this.cleaner.loop.wake();
      },
    });
  }

  /** The leadership term this instance holds, if any. */
  get term(): LeaderTerm | null {
    return this.elector.current;
  }

  start(): void {
    // After the database connection came back (a restart may have emptied the unlogged instance table),
    // heartbeat and campaign at once instead of at the next interval.
    this.offReconnect =
      this.notifier?.onReconnect(() => {
        this.heartbeat.loop.wake();
        this.elector.loop.wake();
      }) ?? null;
    this.heartbeat.loop.start();
    this.elector.loop.start();
    this.rescuer.loop.start();
    this.cleaner.loop.start();
  }

  /** Stops every loop and gives leadership up. */
  async stop(): Promise<void> {
    this.offReconnect?.();
    this.offReconnect = null;
    await Promise.all([this.rescuer.loop.stop(), this.cleaner.loop.stop(), this.heartbeat.loop.stop()]);
    await this.elector.stop();
  }
}

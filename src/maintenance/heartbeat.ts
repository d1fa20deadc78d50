import type { Driver } from '../db/driver.js';
import type { ResolvedConfig } from '../config.js';
import type { Tables } from '../store/tables.js';
import { heartbeat } from '../store/instances.js';
import { Loop } from '../engine/loop.js';

/**
 * Keeps this instance's row alive. When the heartbeat finds no row (the leader removed it as dead while
 * this process was paused, or the unlogged table was emptied by a database crash), the instance registers
 * again with its tools at once: a client never lingers as an unregistered zombie.
 */
export class Heartbeat {
  readonly loop: Loop;
  /** How many times the row was found missing and registered again. */
  reregistrations = 0;

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    private readonly register: () => Promise<void>,
  ) {
    this.loop = new Loop('heartbeat', () => this.tick(), config.heartbeatIntervalMs, config.logger);
  }

  private async tick(): Promise<number | null> {
    if (await heartbeat(this.driver, this.t, this.config.instanceId)) return null;
    this.config.logger.warn('heartbeat: this instance was not registered any more (removed as dead, or lost in a database crash); registering again', {
      instanceId: this.config.instanceId,
    });
    await this.register();
    this.reregistrations++;
    return null;
  }
}

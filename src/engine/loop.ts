import type { Logger } from '../logger.js';

/**
 * A background loop: runs `tick` when woken (a notification, a freed slot) or when its timer fires, never
 * two ticks at once. `tick` returns when it wants to run again: 0 = at once (more work waits), a number of
 * ms, or null = at the polling interval. Wakes during a tick are remembered and honoured right after it.
 */
export class Loop {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private wakeRequested = false;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly tick: () => Promise<number | null>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeRequested = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.runOnce().finally(() => {
      this.running = null;
    });
  }

  private async runOnce(): Promise<void> {
    let next: number | null;
    try {
      next = await this.tick();
    } catch (err) {
      this.logger.error(`${this.name}: tick failed; retrying at the polling interval`, { error: String((err as Error)?.message ?? err) });
      next = null;
    }
    if (this.stopped) return;
    const delay = this.wakeRequested ? 0 : Math.min(next ?? this.intervalMs, this.intervalMs);
    this.wakeRequested = false;
    if (delay <= 0) {
      // Yield to the event loop so a loop with endless work cannot starve I/O.
      this.timer = setTimeout(() => this.wake(), 0);
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake();
      }, delay);
    }
    this.timer.unref?.();
  }

  /** Stops scheduling; resolves when the current tick (if any) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}

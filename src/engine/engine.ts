import type Anthropic from '@anthropic-ai/sdk';
import type { Driver } from '../db/driver.js';
import type { Notifier } from '../db/notifier.js';
import type { ResolvedConfig } from '../config.js';
import type { Tool } from '../tools/define.js';
import { channel, type Tables } from '../store/tables.js';
import { BatchSubmitter } from './batch-submitter.js';
import { BatchPoller } from './batch-poller.js';
import { ToolRunner } from './tool-runner.js';
import { Streamer } from './streamer.js';
import { Delegator } from './delegator.js';
import { DeltaPublisher } from './events.js';
import { Hooks } from './hooks.js';
import { leaseKeeper, toolRescuer } from '../maintenance/leases.js';
import type { Loop } from './loop.js';

/** The worker side of a client: every background loop, woken by notifications and polling as fallback. */
export class Engine {
  private readonly submitter: BatchSubmitter;
  private readonly poller: BatchPoller;
  private readonly runner: ToolRunner;
  private readonly streamer: Streamer;
  private readonly delegator: Delegator;
  readonly hooks: Hooks;
  private readonly loops: Loop[];
  private readonly unsubscribe: (() => Promise<void> | void)[] = [];

  constructor(
    private readonly driver: Driver,
    private readonly t: Tables,
    private readonly config: ResolvedConfig,
    tools: ReadonlyMap<string, Tool<unknown>>,
    anthropic: () => Anthropic,
    private readonly notifier: Notifier,
  ) {
    this.hooks = new Hooks(config.hooks, config.logger);
    this.submitter = new BatchSubmitter(driver, t, config, anthropic, this.hooks);
    this.poller = new BatchPoller(driver, t, config, anthropic, this.hooks);
    this.runner = new ToolRunner(driver, t, config, tools, this.hooks);
    const deltas = new DeltaPublisher(driver, t, config.logger, config.publishTextDeltas);
    this.streamer = new Streamer(driver, t, config, anthropic, deltas, this.hooks);
    this.delegator = new Delegator(driver, t, config);
    this.loops = [
      this.submitter.loop,
      this.poller.loop,
      this.runner.loop,
      this.streamer.loop,
      this.delegator.loop,
      leaseKeeper(driver, t, config),
      toolRescuer(driver, t, config),
    ];
  }

  async start(): Promise<void> {
    const s = this.t.schema;
    this.unsubscribe.push(
      await this.notifier.subscribe(channel(s, 'iteration'), (mode) => {
        if (mode === 'batch') this.submitter.loop.wake();
        else this.streamer.loop.wake();
      }),
      await this.notifier.subscribe(channel(s, 'tool'), (name) => {
        if (this.runner.serves(name)) this.runner.loop.wake();
        else this.delegator.loop.wake();
      }),
      // `<run id>:<state>[:child]` when a run finishes: a finished child run is its parent's tool result, and a
      // cancelled run's streams and tools are aborted at once (the rows already refuse their results).
      await this.notifier.subscribe(channel(s, 'run'), (payload) => {
        const [runId, state, child] = payload.split(':');
        if (child) this.delegator.loop.wake();
        if (state === 'cancelled' && runId) {
          this.streamer.abortRun(runId);
          this.runner.abortRun(runId);
        }
      }),
      this.notifier.onReconnect(() => {
        for (const l of this.loops) l.wake();
      }),
    );
    for (const l of this.loops) l.start();
  }

  /** Stops claiming new work, lets running tools finish within `deadlineMs`, then hands the rest back. */
  async stop(deadlineMs: number): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) await u();
    await Promise.all([this.submitter.loop.stop(), this.poller.loop.stop(), this.runner.loop.stop(), this.streamer.loop.stop(), this.delegator.loop.stop()]);
    await Promise.all([this.runner.drain(deadlineMs), this.streamer.drain(deadlineMs)]);
    await Promise.all(this.loops.map((l) => l.stop()));
  }
}

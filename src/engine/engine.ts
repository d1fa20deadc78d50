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
import { LeaseKeeper } from '../maintenance/leases.js';
import { handBackInstanceWork } from '../store/rescue.js';
import type { Loop } from './loop.js';

/** The worker side of a client: every background loop, woken by notifications and polling as fallback. */
export class Engine {
  private readonly submitter: BatchSubmitter;
  private readonly poller: BatchPoller;
  private readonly runner: ToolRunner;
  private readonly streamer: Streamer;
  private readonly delegator: Delegator;
  /** Renews the leases of the claims this process is working on. */
  readonly leases: LeaseKeeper;
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
    this.leases = new LeaseKeeper(driver, t, config);
    this.submitter = new BatchSubmitter(driver, t, config, anthropic, this.hooks, this.leases);
    this.poller = new BatchPoller(driver, t, config, anthropic, this.hooks, this.leases);
    this.runner = new ToolRunner(driver, t, config, tools, this.hooks, this.leases);
    const deltas = new DeltaPublisher(driver, t, config.logger, config.publishTextDeltas);
    this.streamer = new Streamer(driver, t, config, anthropic, deltas, this.hooks, this.leases);
    this.delegator = new Delegator(driver, t, config);
    this.loops = [
      this.submitter.loop,
      this.poller.loop,
      this.runner.loop,
      this.streamer.loop,
      this.delegator.loop,
      this.leases.loop,
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

  /**
   * Stops claiming new work, lets in-flight work (tool calls, streams, a submission or poll in its API call)
   * finish within `deadlineMs`, then hands every claim still held back to the queue at once: no attempt used,
   * no run failed. Leases are renewed until then.
   */
  async stop(deadlineMs: number): Promise<void> {
    const deadline = Date.now() + deadlineMs;
    const left = () => Math.max(0, deadline - Date.now());
    for (const u of this.unsubscribe.splice(0)) await u();
    const claimers = [this.submitter.loop, this.poller.loop, this.runner.loop, this.streamer.loop, this.delegator.loop];
    const claiming = Promise.all(claimers.map((l) => l.stop()));
    await Promise.race([claiming, sleep(left())]);
    await Promise.all([this.runner.drain(left()), this.streamer.drain(left())]);
    try {
      const back = await handBackInstanceWork(this.driver, this.t, this.config.instanceId);
      if (back.tools + back.polls + back.submissions + back.streams > 0) this.config.logger.info('stopping: handed claims back to the queue', back);
    } catch (err) {
      this.config.logger.warn('stopping: handing claims back failed; they return when their leases expire', { error: String(err) });
    }
    // A tick still in an API call past the deadline finds its claim gone: its guarded writes change nothing.
    await Promise.race([claiming, sleep(left())]);
    await Promise.all(this.loops.filter((l) => !claimers.includes(l)).map((l) => l.stop()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

import type { Logger } from '../logger.js';
import type { JsonValue, RunMode, RunState, ToolExecutionState } from '../types.js';

/**
 * Lifecycle hooks, called on the instance where the transition happens. A hook may be async; agentpg does
 * not wait for it, and a hook that throws or rejects is logged and never disturbs the engine.
 */
export interface LifecycleHooks {
  onRunStateChange?(e: { runId: string; state: RunState }): void | Promise<void>;
  onIterationStart?(e: { runId: string; iterationId: string; index: number; mode: RunMode }): void | Promise<void>;
  onIterationEnd?(e: { runId: string; iterationId: string; index: number; stopReason: string | null; outcome: string }): void | Promise<void>;
  onToolStart?(e: { runId: string; executionId: string; toolName: string; toolUseId: string; input: unknown; attempt: number }): void | Promise<void>;
  onToolEnd?(e: {
    runId: string;
    executionId: string;
    toolName: string;
    toolUseId: string;
    state: ToolExecutionState | 'retrying' | 'snoozed' | 'handed_back';
    isError: boolean;
    output: JsonValue | null;
    durationMs: number;
    attempt: number;
  }): void | Promise<void>;
}

type EventOf<K extends keyof LifecycleHooks> = Parameters<NonNullable<LifecycleHooks[K]>>[0];

export class Hooks {
  constructor(
    private readonly hooks: LifecycleHooks,
    private readonly logger: Logger,
  ) {}

  emit<K extends keyof LifecycleHooks>(name: K, event: EventOf<K>): void {
    const fn = this.hooks[name] as ((e: EventOf<K>) => unknown) | undefined;
    if (!fn) return;
    const report = (err: unknown) => this.logger.warn(`hook ${name} threw; ignored`, { error: String((err as Error)?.message ?? err) });
    try {
      const r = fn.call(this.hooks, event);
      if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).catch(report);
    } catch (err) {
      report(err);
    }
  }
}

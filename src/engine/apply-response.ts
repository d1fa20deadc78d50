import type Anthropic from '@anthropic-ai/sdk';
import type { Queryable } from '../db/driver.js';
import type { ContentBlockParam, IterationState, RunState, Usage } from '../types.js';
import type { Tables } from '../store/tables.js';
import {
  completeRun,
  continueAfterTools,
  continueRun,
  createToolExecutions,
  failRun,
  lockRun,
  recordResponse,
  type ToolUse,
} from '../store/transitions.js';

/** What a model response means for its run. */
export type Outcome =
  | { kind: 'complete' }
  | { kind: 'tools'; uses: ToolUse[] }
  | { kind: 'skip_tools'; uses: ToolUse[]; reason: string }
  | { kind: 'continue' }
  | { kind: 'fail'; errorType: string; message: string };

export interface OutcomePolicy {
  maxTokensBehavior: 'continue' | 'fail';
}

/** Maps a response's stop reason and content to what happens next. Pure, so every branch is unit-tested. */
export function classifyResponse(message: Pick<Anthropic.Message, 'stop_reason' | 'content'>, policy: OutcomePolicy): Outcome {
  const uses: ToolUse[] = [];
  message.content.forEach((b, index) => {
    if (b.type === 'tool_use') uses.push({ index, id: b.id, name: b.name, input: b.input });
  });
  switch (message.stop_reason) {
    case 'max_tokens':
      if (policy.maxTokensBehavior === 'fail') {
        return {
          kind: 'fail',
          errorType: 'max_tokens',
          message: "the response was cut off at max_tokens; raise the agent's maxTokens or use maxTokensBehavior: 'continue'",
        };
      }
      // The last tool call may be cut off mid-input: none of them runs, the model is told and tries again.
      if (uses.length > 0) {
        return {
          kind: 'skip_tools',
          uses,
          reason: 'Error: this tool call was not run because your response was cut off by max_tokens. Call the tool again with a shorter input.',
        };
      }
      return { kind: 'continue' };
    case 'pause_turn':
      return { kind: 'continue' };
    case 'model_context_window_exceeded':
      return {
        kind: 'fail',
        errorType: 'context_window_exceeded',
        message: "the conversation no longer fits the model's context window; start a new session or compact this one",
      };
    case 'refusal':
      return { kind: 'complete' };
    case 'tool_use':
    case 'end_turn':
    case 'stop_sequence':
    case null:
      // Any tool_use needs its tool_result before the conversation can go on, whatever the stop reason says.
      return uses.length > 0 ? { kind: 'tools', uses } : { kind: 'complete' };
    default:
      return { kind: 'fail', errorType: 'unknown_stop_reason', message: `the model stopped for an unknown reason: ${String(message.stop_reason)}` };
  }
}

export function usageOf(u: Anthropic.Usage | undefined | null): Usage {
  return {
    inputTokens: u?.input_tokens ?? 0,
    outputTokens: u?.output_tokens ?? 0,
    cacheCreationInputTokens: u?.cache_creation_input_tokens ?? 0,
    cacheReadInputTokens: u?.cache_read_input_tokens ?? 0,
  };
}

export interface ApplyResult {
  runId: string;
  /** The iteration's number in its run. */
  iteration: number;
  outcome: Outcome['kind'];
  /** The run's state once the response is applied. */
  runState: RunState;
  /** Tool executions waiting for a runner after this response. */
  pendingTools: number;
}

/**
 * Applies a model response to its iteration inside `tx`: records it (guarded), then completes, continues,
 * fails the run or creates its tool executions. Null when the guard failed (already applied elsewhere, or
 * the run was cancelled): nothing was written.
 */
export async function applyResponse(
  tx: Queryable,
  t: Tables,
  a: {
    iterationId: string;
    fromStates: IterationState[];
    batchId: string | null;
    leaseOwner: string | null;
    message: Pick<Anthropic.Message, 'stop_reason' | 'content' | 'usage'>;
    policy: OutcomePolicy;
    defaultToolAttempts: number;
  },
): Promise<ApplyResult | null> {
  const outcome = classifyResponse(a.message, a.policy);
  const toolUseCount = outcome.kind === 'tools' || outcome.kind === 'skip_tools' ? outcome.uses.length : 0;
  const rec = await recordResponse(tx, t, {
    iterationId: a.iterationId,
    fromStates: a.fromStates,
    batchId: a.batchId,
    leaseOwner: a.leaseOwner,
    stopReason: a.message.stop_reason,
    content: a.message.content as unknown as ContentBlockParam[],
    usage: usageOf(a.message.usage),
    toolUseCount,
  });
  if (!rec) return null;
  const result = (runState: RunState, pendingTools = 0): ApplyResult => ({
    runId: rec.runId,
    iteration: rec.iterationNumber,
    outcome: outcome.kind,
    runState,
    pendingTools,
  });
  switch (outcome.kind) {
    case 'complete':
      await completeRun(tx, t, rec.runId, a.message.stop_reason);
      return result('completed');
    case 'fail':
      await failRun(tx, t, rec.runId, outcome.errorType, outcome.message, a.message.stop_reason);
      return result('failed');
    case 'continue': {
      const next = await continueRun(tx, t, rec.runId, 'continuation');
      if (next === 'max_iterations') {
        await failRun(tx, t, rec.runId, 'max_iterations', `the run used all ${rec.maxIterations} model calls (maxIterations) and the model still wanted to continue`);
        return result('failed');
      }
      return result('pending');
    }
    case 'tools':
    case 'skip_tools': {
      // Tools the model will never see the results of are not worth running: past the iteration budget,
      // every call is answered with an error result and the run fails at continuation.
      const overBudget = rec.iterationNumber >= rec.maxIterations;
      const skipReason =
        outcome.kind === 'skip_tools'
          ? outcome.reason
          : overBudget
            ? `Error: not run, the run reached its limit of ${rec.maxIterations} model calls (maxIterations).`
            : null;
      const pending = await createToolExecutions(tx, t, {
        runId: rec.runId,
        iterationId: a.iterationId,
        agentId: rec.agentId,
        uses: outcome.uses,
        maxAttempts: a.defaultToolAttempts,
        skipReason,
      });
      if (pending === 0) {
        await lockRun(tx, t, rec.runId);
        const next = await continueAfterTools(tx, t, rec.runId, a.iterationId);
        return result(next === 'continued' ? 'pending' : 'failed');
      }
      return result('pending_tools', pending);
    }
  }
}

import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type Anthropic from '@anthropic-ai/sdk';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import type { Driver } from './db/driver.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { JsonObject } from './types.js';
import { jsonObject } from './validation.js';
import type { LifecycleHooks } from './engine/hooks.js';

/** Retry policy for failing tool calls: exponential backoff with jitter and a cap. */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default 3. */
  maxAttempts: number;
  /** Delay before the second attempt. Default 1000 ms. */
  initialDelayMs: number;
  /** Upper bound of any delay. Default 5 minutes. */
  maxDelayMs: number;
  /** Random spread as a fraction of the delay (0.2 = ±20%). Default 0.2. */
  jitter: number;
}

export interface BatchConfig {
  /** A batch is flushed when this many iterations wait. Default 1000; the API allows 100,000. */
  maxRequests: number;
  /** ... or when the oldest waiting iteration has waited this long. Default 1000 ms. */
  flushIntervalMs: number;
  /** How often an in-progress batch is polled. Default 30 s. */
  pollIntervalMs: number;
  /** Requeues of an iteration whose batch request errored (retriable), expired or was canceled. Default 3. */
  maxRequeues: number;
  /** Backoff before a requeued iteration is submitted again. Default 5 s. */
  requeueDelayMs: number;
}

/** Options of {@link AgentPG}. Only `driver` is required. */
export interface AgentPGConfig<TTx = unknown> {
  /** Database access: `pgDriver`, `postgresDriver` or `pgliteDriver`. */
  driver: Driver<TTx>;
  /** Postgres schema of agentpg's tables. Default `agentpg`. */
  schema?: string;
  /** Unique id of this process among all instances. Default: a random UUID. */
  instanceId?: string;
  /** Display name of this instance. Default: the host name. */
  name?: string;
  /** Instance metadata, shown next to the instance. */
  metadata?: JsonObject;
  /** Claude API key. Default: `ANTHROPIC_API_KEY`. Needed only to run agents. */
  apiKey?: string;
  /** Claude API base URL (for the emulator or a proxy). Default: `ANTHROPIC_BASE_URL`, else the SDK's. */
  baseURL?: string;
  /** A ready `Anthropic` client; when given, `apiKey`, `baseURL` and `httpTransport` are ignored. */
  anthropic?: Anthropic;
  /**
   * How the SDK client agentpg creates sends its requests: `'node'` (Node's http/https modules over keep-alive
   * connections: about a third less CPU per model call) or `'fetch'` (the global fetch, the SDK's default).
   * Default `'node'`.
   */
  httpTransport?: 'node' | 'fetch';
  logger?: Logger;
  /** Apply pending migrations in `start()`. Default false (run `agentpg migrate` or `migrate()` yourself). */
  autoMigrate?: boolean;
  /** Streaming (fast-mode) model calls in flight at once on this instance. Default 5. */
  maxConcurrentStreamingRuns?: number;
  /** Tool calls in flight at once on this instance. Default 50. */
  maxConcurrentTools?: number;
  /** Default per-call tool time limit. Default 5 minutes. */
  toolTimeoutMs?: number;
  toolRetry?: Partial<RetryPolicy>;
  batch?: Partial<BatchConfig>;
  /** Polling fallback for new model calls when no notification arrives. Default 1000 ms. */
  runPollIntervalMs?: number;
  /** Polling fallback for tool calls. Default 1000 ms. */
  toolPollIntervalMs?: number;
  /** How long a claim lasts without renewal; owners renew at a third of it. Default 60 s. */
  leaseMs?: number;
  /**
   * Instance heartbeat period. A client whose instance row disappeared (removed as dead while it was paused, or lost
   * with the unlogged tables after a database crash) notices at its next heartbeat and registers again. Default 15 s.
   */
  heartbeatIntervalMs?: number;
  /**
   * An instance without a heartbeat for this long is dead: the leader deletes it. Its claims have expired by then
   * and go back to the queue (never failing a run). Must be at least twice `heartbeatIntervalMs`. Default 2 minutes.
   */
  instanceTtlMs?: number;
  /**
   * Length of the leader's lease (renewed every third of it). One instance at a time is leader and runs the
   * maintenance (rescue of expired claims, dead-instance cleanup, unclaimable tools); every new term gets a
   * larger fencing token, and the leader's writes check it. Default 30 s.
   */
  leaderTtlMs?: number;
  /**
   * How long `stop()` lets in-flight tool calls and model calls finish before handing the rest back to the queue
   * (tool calls without using an attempt). Overridable per call: `stop({ timeoutMs })`. Default 25 s (fits the 30 s
   * grace period of a Kubernetes pod).
   */
  shutdownTimeoutMs?: number;
  /**
   * A tool call that no live instance can run (no running client registered its tool) waits this long, visible as
   * `run.blocked`, then its run fails with error type `tool_unavailable` naming the tool. Default 5 minutes.
   */
  unclaimedToolTimeoutMs?: number;
  /** `max_tokens` for agents without their own. Default 4096. */
  defaultMaxTokens?: number;
  /** Model calls per run before it fails as a runaway loop. Default 50. */
  defaultMaxIterations?: number;
  /**
   * What a `max_tokens` stop does: `continue` asks the model to go on (a truncated tool call is never run; the model
   * is told it was cut off), `fail` fails the run with a clear error. Default `continue`.
   */
  maxTokensBehavior?: 'continue' | 'fail';
  /** Levels of agent-to-agent delegation allowed below a root run. Default 5. */
  maxDelegationDepth?: number;
  /** Publish streamed text deltas for `events()` followers in other processes. Default true. */
  publishTextDeltas?: boolean;
  /** Lifecycle hooks, called on the instance where each transition happens; they never break the engine. */
  hooks?: LifecycleHooks;
}

/** The config with every default applied. */
export interface ResolvedConfig {
  driver: Driver<unknown>;
  schema: string;
  instanceId: string;
  name: string;
  metadata: JsonObject;
  apiKey: string | undefined;
  baseURL: string | undefined;
  anthropic: Anthropic | undefined;
  httpTransport: 'node' | 'fetch';
  logger: Logger;
  autoMigrate: boolean;
  maxConcurrentStreamingRuns: number;
  maxConcurrentTools: number;
  toolTimeoutMs: number;
  toolRetry: RetryPolicy;
  batch: BatchConfig;
  runPollIntervalMs: number;
  toolPollIntervalMs: number;
  leaseMs: number;
  heartbeatIntervalMs: number;
  instanceTtlMs: number;
  leaderTtlMs: number;
  shutdownTimeoutMs: number;
  unclaimedToolTimeoutMs: number;
  defaultMaxTokens: number;
  defaultMaxIterations: number;
  maxTokensBehavior: 'continue' | 'fail';
  maxDelegationDepth: number;
  publishTextDeltas: boolean;
  hooks: LifecycleHooks;
}

const positiveInt = z.number().int().positive();
const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' });
const ms = z.number().int().min(1).max(7 * 24 * 3600 * 1000);

const driverShape = z.custom<Driver<unknown>>(
  (d) =>
    !!d &&
    typeof d === 'object' &&
    ['query', 'transaction', 'fromTx', 'connectListener', 'close'].every((k) => typeof (d as Record<string, unknown>)[k] === 'function'),
  { message: 'must be an agentpg driver (pgDriver, postgresDriver or pgliteDriver)' },
);

const logger = z.custom<Logger>(
  (l) => !!l && typeof l === 'object' && ['debug', 'info', 'warn', 'error'].every((k) => typeof (l as Record<string, unknown>)[k] === 'function'),
  { message: 'must have debug, info, warn and error methods' },
);

const schema = z.strictObject({
  driver: driverShape,
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier').optional(),
  instanceId: z.string().min(1).max(127).optional(),
  name: z.string().min(1).max(255).optional(),
  metadata: jsonObject.optional(),
  apiKey: z.string().min(1).optional(),
  baseURL: z.url().optional(),
  anthropic: z.custom<Anthropic>((a) => !!a && typeof a === 'object' && 'messages' in (a as object), {
    message: 'must be an Anthropic client',
  }).optional(),
  httpTransport: z.enum(['node', 'fetch']).optional(),
  logger: logger.optional(),
  autoMigrate: z.boolean().optional(),
  maxConcurrentStreamingRuns: positiveInt.max(10_000).optional(),
  maxConcurrentTools: positiveInt.max(100_000).optional(),
  toolTimeoutMs: ms.optional(),
  toolRetry: z
    .strictObject({
      maxAttempts: positiveInt.max(1000).optional(),
      initialDelayMs: z.number().int().min(0).optional(),
      maxDelayMs: z.number().int().min(0).optional(),
      jitter: z.number().min(0).max(1).optional(),
    })
    .optional(),
  batch: z
    .strictObject({
      maxRequests: positiveInt.max(100_000).optional(),
      flushIntervalMs: ms.optional(),
      pollIntervalMs: ms.optional(),
      maxRequeues: z.number().int().min(0).max(100).optional(),
      requeueDelayMs: z.number().int().min(0).optional(),
    })
    .optional(),
  runPollIntervalMs: ms.optional(),
  toolPollIntervalMs: ms.optional(),
  leaseMs: z.number().int().min(100).optional(),
  heartbeatIntervalMs: ms.optional(),
  instanceTtlMs: ms.optional(),
  leaderTtlMs: z.number().int().min(100).max(24 * 3600 * 1000).optional(),
  shutdownTimeoutMs: z.number().int().min(0).max(24 * 3600 * 1000).optional(),
  unclaimedToolTimeoutMs: ms.optional(),
  defaultMaxTokens: positiveInt.optional(),
  defaultMaxIterations: positiveInt.max(10_000).optional(),
  maxTokensBehavior: z.enum(['continue', 'fail']).optional(),
  maxDelegationDepth: z.number().int().min(1).max(100).optional(),
  publishTextDeltas: z.boolean().optional(),
  hooks: z
    .strictObject({
      onRunStateChange: fn.optional(),
      onIterationStart: fn.optional(),
      onIterationEnd: fn.optional(),
      onToolStart: fn.optional(),
      onToolEnd: fn.optional(),
    })
    .optional(),
});

/** Validates user config and applies defaults. Throws {@link ConfigError} listing every problem. */
export function resolveConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const r = schema.safeParse(input);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`);
    throw new ConfigError(`invalid AgentPG config: ${problems.join('; ')}`, { issues: problems });
  }
  const c = r.data;
  const toolRetry: RetryPolicy = {
    maxAttempts: c.toolRetry?.maxAttempts ?? 3,
    initialDelayMs: c.toolRetry?.initialDelayMs ?? 1000,
    maxDelayMs: c.toolRetry?.maxDelayMs ?? 300_000,
    jitter: c.toolRetry?.jitter ?? 0.2,
  };
  if (toolRetry.maxDelayMs < toolRetry.initialDelayMs) {
    throw new ConfigError(`invalid AgentPG config: toolRetry.maxDelayMs (${toolRetry.maxDelayMs}) is below initialDelayMs (${toolRetry.initialDelayMs})`);
  }
  const leaseMs = c.leaseMs ?? 60_000;
  const heartbeatIntervalMs = c.heartbeatIntervalMs ?? 15_000;
  const instanceTtlMs = c.instanceTtlMs ?? Math.max(120_000, 2 * heartbeatIntervalMs);
  if (instanceTtlMs < 2 * heartbeatIntervalMs) {
    throw new ConfigError(
      `invalid AgentPG config: instanceTtlMs (${instanceTtlMs}) must be at least twice heartbeatIntervalMs (${heartbeatIntervalMs}), or live instances would be removed as dead`,
    );
  }
  return {
    driver: c.driver,
    schema: c.schema ?? 'agentpg',
    instanceId: c.instanceId ?? randomUUID(),
    name: c.name ?? hostname(),
    metadata: c.metadata ?? {},
    apiKey: c.apiKey ?? (env.ANTHROPIC_API_KEY || undefined),
    baseURL: c.baseURL ?? (env.ANTHROPIC_BASE_URL || undefined),
    anthropic: c.anthropic,
    httpTransport: c.httpTransport ?? 'node',
    logger: c.logger ?? silentLogger,
    autoMigrate: c.autoMigrate ?? false,
    maxConcurrentStreamingRuns: c.maxConcurrentStreamingRuns ?? 5,
    maxConcurrentTools: c.maxConcurrentTools ?? 50,
    toolTimeoutMs: c.toolTimeoutMs ?? 300_000,
    toolRetry,
    batch: {
      maxRequests: c.batch?.maxRequests ?? 1000,
      flushIntervalMs: c.batch?.flushIntervalMs ?? 1000,
      pollIntervalMs: c.batch?.pollIntervalMs ?? 30_000,
      maxRequeues: c.batch?.maxRequeues ?? 3,
      requeueDelayMs: c.batch?.requeueDelayMs ?? 5000,
    },
    runPollIntervalMs: c.runPollIntervalMs ?? 1000,
    toolPollIntervalMs: c.toolPollIntervalMs ?? 1000,
    leaseMs,
    heartbeatIntervalMs,
    instanceTtlMs,
    leaderTtlMs: c.leaderTtlMs ?? 30_000,
    shutdownTimeoutMs: c.shutdownTimeoutMs ?? 25_000,
    unclaimedToolTimeoutMs: c.unclaimedToolTimeoutMs ?? 300_000,
    defaultMaxTokens: c.defaultMaxTokens ?? 4096,
    defaultMaxIterations: c.defaultMaxIterations ?? 50,
    maxTokensBehavior: c.maxTokensBehavior ?? 'continue',
    maxDelegationDepth: c.maxDelegationDepth ?? 5,
    publishTextDeltas: c.publishTextDeltas ?? true,
    hooks: (c.hooks ?? {}) as LifecycleHooks,
  };
}

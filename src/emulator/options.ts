import { ConfigError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { systemClock, type Clock } from './clock.js';
import type { ModelSpec } from './models.js';
import type { Responder } from './types.js';
import { DEFAULT_STRICT, type StrictOptions } from './validation/context.js';

/** Size and count limits; defaults are the API's (reference §1.4, §5.4). */
export interface Limits {
  /** Body size of POST /v1/messages (default 32 MB); over it: 413 `request_too_large`. */
  messagesBodyBytes: number;
  /** Body size of POST /v1/messages/count_tokens (default 32 MB). */
  countTokensBodyBytes: number;
  /** Body size of POST /v1/messages/batches (default 256 MB). */
  batchBodyBytes: number;
  /** Requests per batch (default 100,000). */
  batchRequests: number;
}

/** Options of {@link startEmulator}. Every field is optional. */
export interface EmulatorOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind (default 127.0.0.1). */
  host?: string;
  /** When set, only this key is accepted; otherwise any non-empty key is. */
  apiKey?: string;
  /** How long a batch stays `in_progress` before its requests are processed and it ends (default 50 ms). */
  batchLatencyMs?: number;
  /** How long a canceled batch stays `canceling` before it ends (default 0 ms: on the next tick). */
  batchCancelLatencyMs?: number;
  /** Time source for timestamps, batch expiry (24 h), archiving (29 days) and cache TTLs. */
  clock?: Clock;
  /** What "the model" says when no script matches (default: {@link defaultResponder}). */
  responder?: Responder;
  /** Origin put into `results_url` (default: the origin the client used to reach the emulator). */
  publicBaseUrl?: string;
  /** Strictness toggles for behaviour the API leaves open. */
  strict?: Partial<StrictOptions>;
  limits?: Partial<Limits>;
  /** Extra models, or overrides of known ones (by id). */
  models?: Record<string, Partial<ModelSpec>>;
  /** Overrides every model's minimum cacheable prompt length (handy to test caching with short prompts). */
  minCacheableTokens?: number;
  /** Streaming: pause between SSE events (default 0) and whether to send a ping after message_start (default true). */
  stream?: { eventDelayMs?: number; pings?: boolean };
  /** Batch results come back in a deterministic shuffled order, as the API's order is arbitrary (default false). */
  shuffleBatchResults?: boolean;
  /** Most requests kept in the request log (default 10,000). */
  requestLogLimit?: number;
  /** Where the emulator reports unexpected errors (default: silent). */
  logger?: Logger;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  apiKey: string | undefined;
  batchLatencyMs: number;
  batchCancelLatencyMs: number;
  clock: Clock;
  responder: Responder | undefined;
  publicBaseUrl: string | undefined;
  strict: StrictOptions;
  limits: Limits;
  models: Record<string, Partial<ModelSpec>>;
  minCacheableTokens: number | undefined;
  eventDelayMs: number;
  pings: boolean;
  shuffleBatchResults: boolean;
  requestLogLimit: number;
  logger: Logger;
}

const MB = 1024 * 1024;

export function resolveOptions(o: EmulatorOptions = {}): ResolvedOptions {
  const nonNegative = (name: string, v: number | undefined, d: number) => {
    const value = v ?? d;
    if (!(value >= 0)) throw new ConfigError(`startEmulator: ${name} must be >= 0, got ${v}`, { option: name, value: v });
    return value;
  };
  if (o.apiKey !== undefined && o.apiKey.length === 0) throw new ConfigError('startEmulator: apiKey must not be empty', { option: 'apiKey' });
  return {
    port: nonNegative('port', o.port, 0),
    host: o.host ?? '127.0.0.1',
    apiKey: o.apiKey,
    batchLatencyMs: nonNegative('batchLatencyMs', o.batchLatencyMs, 50),
    batchCancelLatencyMs: nonNegative('batchCancelLatencyMs', o.batchCancelLatencyMs, 0),
    clock: o.clock ?? systemClock,
    responder: o.responder,
    publicBaseUrl: o.publicBaseUrl?.replace(/\/+$/, ''),
    strict: { ...DEFAULT_STRICT, ...o.strict },
    limits: {
      messagesBodyBytes: 32 * MB,
      countTokensBodyBytes: 32 * MB,
      batchBodyBytes: 256 * MB,
      batchRequests: 100_000,
      ...o.limits,
    },
    models: o.models ?? {},
    minCacheableTokens: o.minCacheableTokens,
    eventDelayMs: nonNegative('stream.eventDelayMs', o.stream?.eventDelayMs, 0),
    pings: o.stream?.pings ?? true,
    shuffleBatchResults: o.shuffleBatchResults ?? false,
    requestLogLimit: nonNegative('requestLogLimit', o.requestLogLimit, 10_000),
    logger: o.logger ?? silentLogger,
  };
}

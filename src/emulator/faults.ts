import type { ApiErrorType } from './errors.js';
import { typeOfStatus } from './errors.js';
import { matches, type RequestMatcher } from './matcher.js';
import type { CallContext, MessageRequest } from './types.js';

/** An HTTP error response, as the API sends under load or failure. */
export interface HttpFault {
  kind: 'http';
  status: number;
  errorType: ApiErrorType | (string & {});
  message: string;
  /** Extra response headers: `retry-after`, `retry-after-ms`, `x-should-retry`, ... */
  headers: Record<string, string>;
}
/** The connection is destroyed without any response (the SDK sees a connection error and retries). */
export interface DropFault {
  kind: 'drop';
}
/** The response is held back for `ms` milliseconds, then the request proceeds normally. */
export interface DelayFault {
  kind: 'delay';
  ms: number;
}
/** A streaming call gets HTTP 200, `afterEvents` SSE events, then an `event: error` and the end of the stream. */
export interface StreamErrorFault {
  kind: 'stream_error';
  afterEvents: number;
  errorType: ApiErrorType | (string & {});
  message: string;
}
/** A streaming call gets HTTP 200, `afterEvents` SSE events, then the connection is destroyed. */
export interface StreamDropFault {
  kind: 'stream_drop';
  afterEvents: number;
}
/** A batch item ends `errored` (with this error type), `expired` or `canceled` instead of being answered. */
export interface BatchResultFault {
  kind: 'batch_result';
  result: 'errored' | 'expired' | 'canceled';
  errorType: ApiErrorType | (string & {});
  message: string;
}
/** A created batch stays `in_progress` for `ms` (Infinity: until canceled or expired) instead of the default latency. */
export interface BatchLatencyFault {
  kind: 'batch_latency';
  ms: number;
}

export type Fault =
  | HttpFault
  | DropFault
  | DelayFault
  | StreamErrorFault
  | StreamDropFault
  | BatchResultFault
  | BatchLatencyFault;

/** Options shared by the HTTP error faults. */
export interface HttpFaultOptions {
  /** Error message in the body. */
  message?: string;
  /** `retry-after` header: seconds, or an HTTP date. */
  retryAfter?: number | string;
  /** `retry-after-ms` header (the SDK prefers it; small values keep tests fast). */
  retryAfterMs?: number;
  /** `x-should-retry` header; the SDK obeys it over the status. */
  shouldRetry?: boolean;
  /** Any other headers. */
  headers?: Record<string, string>;
  /** Error type in the body (defaults to the status's usual type). */
  type?: ApiErrorType | (string & {});
}

const DEFAULT_MESSAGES: Record<string, string> = {
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
  timeout_error: 'Request timed out',
};

function http(status: number, opts: HttpFaultOptions = {}): HttpFault {
  const errorType = opts.type ?? typeOfStatus(status);
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.retryAfter !== undefined) headers['retry-after'] = String(opts.retryAfter);
  if (opts.retryAfterMs !== undefined) headers['retry-after-ms'] = String(opts.retryAfterMs);
  if (opts.shouldRetry !== undefined) headers['x-should-retry'] = String(opts.shouldRetry);
  return { kind: 'http', status, errorType, message: opts.message ?? DEFAULT_MESSAGES[errorType] ?? 'Error', headers };
}

/** Constructors for every fault the emulator can inject. */
export const faults = {
  /** Any HTTP error status. */
  http,
  /** 429 `rate_limit_error`. */
  rateLimited: (opts: HttpFaultOptions = {}) => http(429, opts),
  /** 529 `overloaded_error`. */
  overloaded: (opts: HttpFaultOptions = {}) => http(529, opts),
  /** 500 `api_error`. */
  serverError: (opts: HttpFaultOptions = {}) => http(500, opts),
  /** Destroy the connection without a response. */
  drop: (): DropFault => ({ kind: 'drop' }),
  /** Answer `ms` milliseconds late. */
  delay: (ms: number): DelayFault => ({ kind: 'delay', ms }),
  /** Mid-stream `event: error` after `afterEvents` events (default 3: message_start, ping, content_block_start). */
  streamError: (opts: { afterEvents?: number; type?: ApiErrorType | (string & {}); message?: string } = {}): StreamErrorFault => ({
    kind: 'stream_error',
    afterEvents: opts.afterEvents ?? 3,
    errorType: opts.type ?? 'overloaded_error',
    message: opts.message ?? DEFAULT_MESSAGES[opts.type ?? 'overloaded_error'] ?? 'Error',
  }),
  /** Stream cut (socket destroyed) after `afterEvents` events (default 3). */
  streamDrop: (opts: { afterEvents?: number } = {}): StreamDropFault => ({ kind: 'stream_drop', afterEvents: opts.afterEvents ?? 3 }),
  /** A batch item ends `errored`; `invalid_request_error` means "fix the request", other types are retryable. */
  batchErrored: (opts: { type?: ApiErrorType | (string & {}); message?: string } = {}): BatchResultFault => ({
    kind: 'batch_result',
    result: 'errored',
    errorType: opts.type ?? 'api_error',
    message: opts.message ?? DEFAULT_MESSAGES[opts.type ?? 'api_error'] ?? 'Invalid request',
  }),
  /** A batch item ends `expired`. */
  batchExpired: (): BatchResultFault => ({ kind: 'batch_result', result: 'expired', errorType: '', message: '' }),
  /** A batch item ends `canceled`. */
  batchCanceled: (): BatchResultFault => ({ kind: 'batch_result', result: 'canceled', errorType: '', message: '' }),
  /** The next created batch(es) stay in_progress for `ms` (Infinity: until canceled or the 24 h expiry). */
  slowBatch: (ms: number): BatchLatencyFault => ({ kind: 'batch_latency', ms }),
};

/** Where (and how often) a fault applies. Unset fields match everything. */
export interface FaultTarget {
  /** HTTP method, e.g. 'POST'. */
  method?: string;
  /** Request path without query: exact string, a string ending in `*` for a prefix, or a RegExp. */
  path?: string | RegExp;
  /** Model calls this applies to (the Messages body, or a batch item's params). */
  match?: RequestMatcher;
  /** Batch items only: `custom_id`, exact or RegExp. */
  customId?: string | RegExp;
  /** How many times the fault fires (default 1; Infinity for always). */
  times?: number;
}

/** A registered fault. */
export interface FaultHandle {
  readonly fault: Fault;
  /** How many times it fired. */
  readonly hits: number;
  /** How many more times it will fire. */
  readonly remaining: number;
  /** Stops it from firing again. */
  cancel(): void;
}

interface Entry extends FaultHandle {
  target: FaultTarget;
  hits: number;
  remaining: number;
}

/** Where a fault is being considered: an HTTP request, a batch item, or a batch being created. */
export type FaultSite =
  | { at: 'http'; method: string; path: string; request?: MessageRequest; context?: CallContext; stream: boolean }
  | { at: 'batch_item'; request: MessageRequest | undefined; context: CallContext }
  | { at: 'batch_create'; method: string; path: string };

const SITE_OF: Record<Fault['kind'], FaultSite['at']> = {
  http: 'http',
  drop: 'http',
  delay: 'http',
  stream_error: 'http',
  stream_drop: 'http',
  batch_result: 'batch_item',
  batch_latency: 'batch_create',
};

/** The registered faults, consumed first-registered first. */
export class FaultBook {
  #entries: Entry[] = [];

  add(fault: Fault, target: FaultTarget = {}): FaultHandle {
    const entry: Entry = {
      fault,
      target,
      hits: 0,
      remaining: target.times ?? 1,
      cancel: () => {
        entry.remaining = 0;
      },
    };
    this.#entries.push(entry);
    return entry;
  }

  /** The first fault that applies at `site`, consumed; undefined when none does. */
  take(site: FaultSite): Fault | undefined {
    for (const e of this.#entries) {
      if (e.remaining <= 0 || SITE_OF[e.fault.kind] !== site.at) continue;
      if (!this.#applies(e, site)) continue;
      e.remaining--;
      e.hits++;
      return e.fault;
    }
    return undefined;
  }

  #applies(e: Entry, site: FaultSite): boolean {
    const t = e.target;
    if (site.at !== 'batch_item') {
      if (t.method && t.method.toUpperCase() !== site.method) return false;
      if (t.path !== undefined && !pathMatches(t.path, site.path)) return false;
    }
    if (site.at === 'http' && (e.fault.kind === 'stream_error' || e.fault.kind === 'stream_drop') && !site.stream) return false;
    if (t.customId !== undefined) {
      const id = site.at === 'batch_item' ? site.context.customId : undefined;
      if (id === undefined || !(typeof t.customId === 'string' ? id === t.customId : t.customId.test(id))) return false;
    }
    if (t.match !== undefined) {
      if (site.at === 'batch_create') return false;
      if (!site.request || !site.context || !matches(t.match, site.request, site.context)) return false;
    }
    return true;
  }

  clear(): void {
    for (const e of this.#entries) e.remaining = 0;
    this.#entries = [];
  }
}

function pathMatches(want: string | RegExp, path: string): boolean {
  if (typeof want !== 'string') {
    want.lastIndex = 0;
    return want.test(path);
  }
  return want.endsWith('*') ? path.startsWith(want.slice(0, -1)) : path === want;
}

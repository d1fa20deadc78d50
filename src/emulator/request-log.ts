import type { Fault } from './faults.js';

/** One HTTP request the emulator answered (or dropped), as tests see it. */
export interface LoggedRequest {
  /** The `request-id` the response carried. */
  id: string;
  method: string;
  /** Path without the query string, e.g. `/v1/messages`. */
  path: string;
  query: Record<string, string>;
  /** Request headers, lower-cased names. */
  headers: Record<string, string>;
  /** Parsed JSON body; undefined without a body, the raw text when it was not JSON. */
  body: unknown;
  /** When the request arrived (emulator clock). */
  time: Date;
  /** Response status; null when the connection was dropped without a response. */
  status: number | null;
  /** The SDK's retry counter (`x-stainless-retry-count`), 0 when absent. */
  retryCount: number;
  /** The injected fault that shaped this response, if any. */
  fault?: Fault['kind'];
  /** True for SSE responses (the entry is logged when the stream starts). */
  stream: boolean;
}

/** A filter for {@link RequestLog.filter} and {@link RequestLog.waitFor}. */
export type RequestQuery = { method?: string; path?: string | RegExp } | ((entry: LoggedRequest) => boolean);

const matchesQuery = (q: RequestQuery, e: LoggedRequest) => {
  if (typeof q === 'function') return q(e);
  if (q.method && q.method.toUpperCase() !== e.method) return false;
  if (q.path !== undefined && (typeof q.path === 'string' ? q.path !== e.path : !q.path.test(e.path))) return false;
  return true;
};

/** The requests the emulator answered, oldest first; holds at most `limit` entries (oldest dropped). */
export class RequestLog {
  #entries: LoggedRequest[] = [];
  #waiters = new Set<(e: LoggedRequest) => void>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** @internal */
  record(entry: LoggedRequest): void {
    this.#entries.push(entry);
    if (this.#entries.length > this.#limit) this.#entries.splice(0, this.#entries.length - this.#limit);
    for (const w of [...this.#waiters]) w(entry);
  }

  /** Every logged request, oldest first. */
  all(): LoggedRequest[] {
    return [...this.#entries];
  }
  get length(): number {
    return this.#entries.length;
  }
  last(query?: RequestQuery): LoggedRequest | undefined {
    if (!query) return this.#entries.at(-1);
    return this.filter(query).at(-1);
  }
  filter(query: RequestQuery): LoggedRequest[] {
    return this.#entries.filter((e) => matchesQuery(query, e));
  }
  clear(): void {
    this.#entries = [];
  }

  /**
   * Resolves with the first request matching `query` logged from now on, or already logged when `includePast`
   * (default true). Rejects after `timeoutMs` (default 5 s) so a test fails instead of hanging.
   */
  waitFor(query: RequestQuery, options: { timeoutMs?: number; includePast?: boolean } = {}): Promise<LoggedRequest> {
    if (options.includePast ?? true) {
      const found = this.#entries.find((e) => matchesQuery(query, e));
      if (found) return Promise.resolve(found);
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const waiter = (e: LoggedRequest) => {
        if (!matchesQuery(query, e)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`RequestLog.waitFor: no matching request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
}

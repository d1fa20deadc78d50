import type { Clock } from './clock.js';
import { prefixHashes, promptUnits } from './tokens.js';

/** How a request's input tokens split between uncached input, cache writes and cache reads. */
export interface CacheUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;
/** Past this many entries, expired ones are swept on the next write, so long runs do not grow without bound. */
const SWEEP_AT = 10_000;

/**
 * A simulated prompt cache. The key of a breakpoint is the exact prompt prefix up to it (tools, system, messages) and
 * the model. The longest breakpoint prefix seen before (and not expired) is a read; the prefix up to the last
 * breakpoint after it is written. Prefixes below the model's minimum cacheable length are neither, as in the API.
 */
export class PromptCache {
  readonly #entries = new Map<string, number>(); // prefix hash -> expires at (clock ms)
  readonly #clock: Clock;
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Splits the request's input and records writes and refreshed TTLs. `record: false` only looks (count_tokens). */
  apply(model: string, req: Record<string, unknown>, minCacheable: number, record = true): CacheUsage {
    const units = promptUnits(req);
    const total = units.reduce((n, u) => n + u.tokens, 0);
    const usage: CacheUsage = {
      input_tokens: total,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    };
    if (!units.some((u) => u.breakpoint)) return usage;
    const hashes = prefixHashes(model, units);
    const now = this.#clock.now();
    const prefixTokens: number[] = [];
    units.reduce((n, u, i) => (prefixTokens[i] = n + u.tokens), 0);
    const points = units.flatMap((u, i) => (u.breakpoint && prefixTokens[i]! >= minCacheable ? [i] : []));

    let hit = -1;
    for (const i of points) {
      const expires = this.#entries.get(hashes[i]!);
      if (expires !== undefined && expires > now) hit = i;
    }
    let covered = hit >= 0 ? prefixTokens[hit]! : 0;
    usage.cache_read_input_tokens = covered;
    if (hit >= 0 && record) this.#entries.set(hashes[hit]!, now + TTL_MS[units[hit]!.breakpoint!.ttl]);

    for (const i of points) {
      if (i <= hit) continue;
      const ttl = units[i]!.breakpoint!.ttl;
      const written = prefixTokens[i]! - covered;
      covered = prefixTokens[i]!;
      usage.cache_creation_input_tokens += written;
      if (ttl === '1h') usage.cache_creation.ephemeral_1h_input_tokens += written;
      else usage.cache_creation.ephemeral_5m_input_tokens += written;
      if (record) this.#entries.set(hashes[i]!, now + TTL_MS[ttl]);
    }
    usage.input_tokens = total - covered;
    if (this.#entries.size > SWEEP_AT) this.#sweep(now);
    return usage;
  }

  #sweep(now: number): void {
    for (const [key, expires] of this.#entries) if (expires <= now) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

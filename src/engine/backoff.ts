import type { RetryPolicy } from '../config.js';

/** Delay before retry number `attempt` (1 = after the first failure): exponential, capped, with jitter. */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  const spread = base * policy.jitter;
  return Math.max(0, Math.min(policy.maxDelayMs, Math.round(base - spread + random() * 2 * spread)));
}

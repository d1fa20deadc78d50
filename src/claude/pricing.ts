import type { Usage } from '../types.js';

/**
 * Claude list prices in US dollars per million tokens, from the model pages (late November 2026). Used by the
 * demo and the CLI to show what runs cost; agentpg itself never needs a price. Prices change: treat the
 * numbers as an estimate and check https://platform.claude.com/docs/en/about-claude/pricing.
 */
export interface ModelPrice {
  /** Base input tokens, $/MTok. */
  input: number;
  /** Output tokens, $/MTok. */
  output: number;
  /** Cache reads as a fraction of `input` (0.1 for most models). */
  cacheReadMultiplier: number;
  /** Above this many prompt tokens in one request, the `longContext` prices apply to the whole request. */
  longContext?: { aboveTokens: number; input: number; output: number };
}

/** Cache writes (5-minute TTL) cost 1.25× base input. */
export const CACHE_WRITE_MULTIPLIER = 1.25;
/** The Message Batches API charges 50% of standard prices on every kind of token. */
export const BATCH_DISCOUNT = 0.5;

const p = (input: number, output: number, cacheReadMultiplier = 0.1): ModelPrice => ({ input, output, cacheReadMultiplier });

export const PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-fable-5-2': p(8, 40),
  'claude-fable-5-1': p(10, 50, 0.025),
  'claude-opus-5-5': p(4, 20, 0.05),
  'claude-sonnet-5-5': p(2, 10, 0.05),
  'claude-haiku-5-5': { ...p(0.1, 0.5), longContext: { aboveTokens: 100_000, input: 0.5, output: 2.5 } },
  'claude-opus-5': p(5, 25),
  'claude-sonnet-5': p(2, 10),
  'claude-opus-4-8': p(5, 25),
  'claude-opus-4-7': p(5, 25),
  'claude-opus-4-6': p(5, 25),
  'claude-sonnet-4-6': p(3, 15),
  'claude-opus-4-5': p(5, 25),
  'claude-opus-4-5-20251101': p(5, 25),
  'claude-haiku-4-5': p(1, 5),
  'claude-haiku-4-5-20251001': p(1, 5),
  'claude-sonnet-4-5': p(3, 15),
  'claude-sonnet-4-5-20250929': p(3, 15),
};

/** The price of `model`, or undefined when it is not in the table. */
export function priceOf(model: string): ModelPrice | undefined {
  return Object.hasOwn(PRICES, model) ? PRICES[model] : undefined;
}

/** What one model call cost, in dollars, at standard and at batch prices. */
export interface Cost {
  standard: number;
  batch: number;
}

/**
 * The cost of one model call (one iteration) with this usage. Returns undefined for a model without a price.
 * Long-context tiers are decided per call, which is why this takes one call's usage, not a run's total.
 */
export function costOfCall(model: string, usage: Usage): Cost | undefined {
  const price = priceOf(model);
  if (!price) return undefined;
  const prompt = usage.inputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
  const long = price.longContext && prompt > price.longContext.aboveTokens ? price.longContext : undefined;
  const input = long?.input ?? price.input;
  const output = long?.output ?? price.output;
  const standard =
    (usage.inputTokens * input +
      usage.cacheCreationInputTokens * input * CACHE_WRITE_MULTIPLIER +
      usage.cacheReadInputTokens * input * price.cacheReadMultiplier +
      usage.outputTokens * output) /
    1_000_000;
  return { standard, batch: standard * BATCH_DISCOUNT };
}

/** Adds costs; undefined entries (unknown prices) are skipped. */
export function sumCosts(costs: readonly (Cost | undefined)[]): Cost {
  return costs.reduce<Cost>((acc, c) => (c ? { standard: acc.standard + c.standard, batch: acc.batch + c.batch } : acc), { standard: 0, batch: 0 });
}

/** `$0.000123` style: enough digits to show the cost of a few cheap calls. */
export function formatUsd(amount: number): string {
  if (amount === 0) return '$0';
  if (amount >= 1) return `$${amount.toFixed(2)}`;
  const digits = Math.min(8, Math.max(2, 2 - Math.floor(Math.log10(amount))));
  return `$${amount.toFixed(digits)}`;
}

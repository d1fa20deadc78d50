import { describe, expect, it } from 'vitest';
import { BATCH_DISCOUNT, costOfCall, formatUsd, priceOf, sumCosts } from '../../src/claude/pricing.js';

const usage = (inputTokens: number, outputTokens: number, cacheCreationInputTokens = 0, cacheReadInputTokens = 0) => ({
  inputTokens,
  outputTokens,
  cacheCreationInputTokens,
  cacheReadInputTokens,
});

describe('pricing', () => {
  it('prices a call at standard and batch prices (batch = 50%)', () => {
    const c = costOfCall('claude-sonnet-5-5', usage(1_000_000, 100_000))!;
    expect(c.standard).toBeCloseTo(2 + 1, 10); // $2/MTok in, $10/MTok out
    expect(c.batch).toBeCloseTo(c.standard * BATCH_DISCOUNT, 10);
  });

  it('applies cache write (×1.25) and read multipliers per model', () => {
    expect(costOfCall('claude-haiku-4-5', usage(0, 0, 1_000_000, 0))!.standard).toBeCloseTo(1.25, 10);
    expect(costOfCall('claude-haiku-4-5', usage(0, 0, 0, 1_000_000))!.standard).toBeCloseTo(0.1, 10);
    expect(costOfCall('claude-opus-5-5', usage(0, 0, 0, 1_000_000))!.standard).toBeCloseTo(4 * 0.05, 10);
  });

  it('uses Haiku 5.5 long-context prices above 100K prompt tokens, per call', () => {
    expect(costOfCall('claude-haiku-5-5', usage(100_000, 1_000_000))!.standard).toBeCloseTo(0.01 + 0.5, 10);
    expect(costOfCall('claude-haiku-5-5', usage(100_001, 1_000_000))!.standard).toBeCloseTo((100_001 * 0.5) / 1e6 + 2.5, 10);
  });

  it('knows nothing of unknown models and sums what it knows', () => {
    expect(priceOf('claude-unknown')).toBeUndefined();
    expect(priceOf('toString')).toBeUndefined();
    expect(costOfCall('claude-unknown', usage(1, 1))).toBeUndefined();
    expect(sumCosts([{ standard: 1, batch: 0.5 }, undefined, { standard: 2, batch: 1 }])).toEqual({ standard: 3, batch: 1.5 });
  });

  it('formats small amounts with enough digits', () => {
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(0.000123)).toBe('$0.000123');
    expect(formatUsd(0.5)).toBe('$0.500');
    expect(formatUsd(12.345)).toBe('$12.35');
  });
});

import type { ModelSpec } from '../models.js';

/** API versions the emulator accepts in `anthropic-version`. */
export const API_VERSIONS = ['2023-06-01', '2026-10-21'] as const;
export type ApiVersion = (typeof API_VERSIONS)[number];

/**
 * Behaviour the reference leaves open or that real deployments differ on. Each toggle defaults to what the real
 * API most likely does; turn one off to be lenient.
 */
export interface StrictOptions {
  /** Unknown `anthropic-beta` values get a 400 (default false: ignored). */
  betas: boolean;
  /** A thinking block passed back with a signature the emulator did not issue for that exact text gets a 400 (default true). */
  thinkingSignatures: boolean;
  /** count_tokens rejects create-only fields such as `max_tokens` or `stream` as extra inputs (default true). */
  countTokensFields: boolean;
  /** Batch create rejects `stream`, `speed` and `max_tokens: 0` in params synchronously (default true); otherwise those requests end `errored`. */
  batchParamsAtCreate: boolean;
  /** Unknown model ids get a 404 `not_found_error` (default true); otherwise they behave like a 1M-context model. */
  models: boolean;
}

export const DEFAULT_STRICT: StrictOptions = {
  betas: false,
  thinkingSignatures: true,
  countTokensFields: true,
  batchParamsAtCreate: true,
  models: true,
};

/** What request validation needs to know besides the body. */
export interface ValidationContext {
  mode: 'create' | 'count_tokens' | 'batch';
  apiVersion: ApiVersion;
  betas: readonly string[];
  models: ReadonlyMap<string, ModelSpec>;
  strict: StrictOptions;
  /** True when `signature` is one the emulator issued for `thinking`. */
  verifySignature(thinking: string, signature: string): boolean;
}

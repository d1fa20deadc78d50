/** What the emulator knows about a model: limits and the validation rules that differ between models. */
export interface ModelSpec {
  /** Display name for `/v1/models`. */
  displayName: string;
  /** Context window in tokens; prompts estimated above it get the real 400 `prompt is too long`. */
  contextWindow: number;
  /** Largest `max_tokens` accepted on `/v1/messages`. */
  maxOutputTokens: number;
  /** Largest `max_tokens` accepted in batches with the `output-300k-2026-03-24` beta (defaults to `maxOutputTokens`). */
  maxBatchOutputTokensWithBeta?: number;
  /** Shortest prefix (tokens) the prompt cache stores; shorter breakpoints are silently not cached. */
  minCacheableTokens: number;
  /** `thinking: {type:'enabled', budget_tokens}` is accepted (older models); newer ones only take adaptive thinking. */
  budgetTokens: boolean;
  /** A final assistant turn (prefill) is accepted. */
  prefill: boolean;
  /** `role:'system'` turns in the middle of `messages` are accepted. */
  systemRole: boolean;
  /** Under API version 2023-06-01, non-default `temperature` and any `top_p`/`top_k` are rejected. */
  restrictsSampling: boolean;
  /** RFC 3339 creation time shown by `/v1/models`. */
  createdAt: string;
  lifecycle: 'active' | 'deprecated';
}

const base = (over: Partial<ModelSpec> & Pick<ModelSpec, 'displayName' | 'createdAt'>): ModelSpec => ({
  contextWindow: 1_000_000,
  maxOutputTokens: 128_000,
  minCacheableTokens: 1024,
  budgetTokens: false,
  prefill: true,
  systemRole: false,
  restrictsSampling: true,
  lifecycle: 'active',
  ...over,
});

const BATCH_300K = { maxBatchOutputTokensWithBeta: 300_000 };

/** The models SDK 1.10 names, with limits from the reference (§8). */
export const KNOWN_MODELS: Readonly<Record<string, ModelSpec>> = {
  'claude-fable-5-2': base({ displayName: 'Claude Fable 5.2', createdAt: '2026-11-09T00:00:00Z' }),
  'claude-fable-5-1': base({ displayName: 'Claude Fable 5.1', createdAt: '2026-09-01T00:00:00Z' }),
  'claude-fable-5': base({ displayName: 'Claude Fable 5', createdAt: '2026-07-01T00:00:00Z' }),
  'claude-mythos-5-2': base({ displayName: 'Claude Mythos 5.2', createdAt: '2026-11-09T00:00:00Z' }),
  'claude-mythos-5-1': base({ displayName: 'Claude Mythos 5.1', createdAt: '2026-09-01T00:00:00Z' }),
  'claude-mythos-5': base({ displayName: 'Claude Mythos 5', createdAt: '2026-07-01T00:00:00Z' }),
  'claude-mythos-preview': base({ displayName: 'Claude Mythos Preview', createdAt: '2026-04-01T00:00:00Z', prefill: false }),
  'claude-opus-5-5': base({ displayName: 'Claude Opus 5.5', createdAt: '2026-10-07T00:00:00Z', systemRole: true, ...BATCH_300K }),
  'claude-sonnet-5-5': base({ displayName: 'Claude Sonnet 5.5', createdAt: '2026-10-07T00:00:00Z', ...BATCH_300K }),
  'claude-haiku-5-5': base({ displayName: 'Claude Haiku 5.5', createdAt: '2026-10-07T00:00:00Z', minCacheableTokens: 512, ...BATCH_300K }),
  'claude-opus-5': base({ displayName: 'Claude Opus 5', createdAt: '2026-07-24T00:00:00Z', systemRole: true, ...BATCH_300K }),
  'claude-sonnet-5': base({ displayName: 'Claude Sonnet 5', createdAt: '2026-06-30T00:00:00Z', ...BATCH_300K }),
  'claude-opus-4-8': base({ displayName: 'Claude Opus 4.8', createdAt: '2026-05-28T00:00:00Z', systemRole: true, ...BATCH_300K }),
  'claude-opus-4-7': base({ displayName: 'Claude Opus 4.7', createdAt: '2026-04-01T00:00:00Z', prefill: false, ...BATCH_300K }),
  'claude-opus-4-6': base({
    displayName: 'Claude Opus 4.6',
    createdAt: '2026-02-05T00:00:00Z',
    prefill: false,
    budgetTokens: true,
    restrictsSampling: false,
    ...BATCH_300K,
  }),
  'claude-sonnet-4-6': base({
    displayName: 'Claude Sonnet 4.6',
    createdAt: '2026-02-17T00:00:00Z',
    maxOutputTokens: 64_000,
    prefill: false,
    restrictsSampling: false,
    ...BATCH_300K,
  }),
  ...legacy('claude-opus-4-5', '20251101', 'Claude Opus 4.5', '2025-11-24T00:00:00Z', 4096, 'active'),
  ...legacy('claude-haiku-4-5', '20251001', 'Claude Haiku 4.5', '2025-10-01T00:00:00Z', 4096, 'active'),
  ...legacy('claude-sonnet-4-5', '20250929', 'Claude Sonnet 4.5', '2025-09-29T00:00:00Z', 1024, 'deprecated'),
};

function legacy(
  alias: string,
  date: string,
  displayName: string,
  createdAt: string,
  minCacheableTokens: number,
  lifecycle: ModelSpec['lifecycle'],
): Record<string, ModelSpec> {
  const spec = base({
    displayName,
    createdAt,
    contextWindow: 200_000,
    maxOutputTokens: 64_000,
    minCacheableTokens,
    budgetTokens: true,
    restrictsSampling: false,
    lifecycle,
  });
  return { [alias]: spec, [`${alias}-${date}`]: spec };
}

/** Builds the model table: the known models, with per-id overrides or additions from the options. */
export function modelTable(extra: Record<string, Partial<ModelSpec>> = {}): Map<string, ModelSpec> {
  const table = new Map<string, ModelSpec>(Object.entries(KNOWN_MODELS));
  for (const [id, over] of Object.entries(extra)) {
    const known = table.get(id);
    table.set(id, known ? { ...known, ...over } : base({ displayName: id, createdAt: '2026-01-01T00:00:00Z', ...over }));
  }
  return table;
}

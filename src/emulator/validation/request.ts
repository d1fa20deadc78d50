import { ApiError, invalidRequest } from '../errors.js';
import type { ModelSpec } from '../models.js';
import { inputTokens } from '../tokens.js';
import type { MessageRequest } from '../types.js';
import {
  checkCacheControl,
  expectArray,
  expectBoolean,
  expectInteger,
  expectLiteral,
  expectNumber,
  expectObject,
  expectString,
  fail,
  noExtraFields,
  required,
  type Json,
} from './check.js';
import type { ValidationContext } from './context.js';
import { validateMessages } from './messages.js';
import { validateTools, validateToolChoice } from './tools.js';

const CREATE_FIELDS = [
  'model', 'max_tokens', 'messages', 'cache_control', 'container', 'diagnostics', 'inference_geo', 'metadata',
  'output_config', 'service_tier', 'speed', 'stop_sequences', 'stream', 'system', 'thinking', 'tool_choice', 'tools',
];
const COUNT_FIELDS = ['model', 'messages', 'cache_control', 'output_config', 'speed', 'system', 'thinking', 'tool_choice', 'tools'];
const SAMPLING = ['temperature', 'top_p', 'top_k'];
const MAX_BREAKPOINTS = 4;
/** Fields a batch never accepts, whatever they are set to (Threads / routing hints). */
export const BATCH_FORBIDDEN = ['store', 'previous_thread_event_id', 'cache_hint', 'context_hint', 'research_preview_2026_02'];

/** A model id the emulator does not know, when unknown models are allowed. */
const UNKNOWN_MODEL: ModelSpec = {
  displayName: 'Unknown model',
  contextWindow: 1_000_000,
  maxOutputTokens: 128_000,
  minCacheableTokens: 1024,
  budgetTokens: true,
  prefill: true,
  systemRole: true,
  restrictsSampling: false,
  createdAt: '2026-01-01T00:00:00Z',
  lifecycle: 'active',
};

/** A validated request with the model it names. */
export interface ValidatedRequest {
  request: MessageRequest;
  model: ModelSpec;
}

/**
 * Validates a Messages body (also count_tokens bodies and batch `params`) in the order the API reports problems:
 * schema (required, extra and mistyped fields), then the model (404), then cross-field rules. Throws {@link ApiError}.
 * In count_tokens mode with lenient fields, create-only fields are dropped from the returned copy.
 */
export function validateRequest(body: unknown, ctx: ValidationContext): ValidatedRequest {
  const req = expectObject(body, '');
  const counting = ctx.mode === 'count_tokens';
  const allowed = new Set(counting ? COUNT_FIELDS : CREATE_FIELDS);
  if (ctx.apiVersion === '2023-06-01') for (const f of SAMPLING) allowed.add(f);

  let input: Json = req;
  if (counting && !ctx.strict.countTokensFields) {
    const known = new Set([...CREATE_FIELDS, ...SAMPLING]);
    input = Object.fromEntries(Object.entries(req).filter(([k]) => allowed.has(k) || !known.has(k)));
  }

  required(input, 'model');
  if (!counting) required(input, 'max_tokens');
  required(input, 'messages');
  noExtraFields(input, allowed);

  const modelId = expectString(input.model, 'model');
  const cache = { count: 0, ttls: [] as string[] };
  const thinking = validateThinking(input.thinking);
  const toolNames = validateTools(input.tools, cache);
  validateScalars(input, cache);

  let model = ctx.models.get(modelId);
  if (!model) {
    if (ctx.strict.models) throw new ApiError('not_found_error', `model: ${modelId}`);
    model = UNKNOWN_MODEL;
  }

  let maxTokens = 0;
  if (!counting) {
    maxTokens = expectInteger(input.max_tokens, 'max_tokens');
    const min = ctx.mode === 'batch' ? 1 : 0;
    if (maxTokens < min) fail('max_tokens', `Input should be greater than or equal to ${min}`);
    const limit =
      ctx.mode === 'batch' && ctx.betas.includes('output-300k-2026-03-24')
        ? (model.maxBatchOutputTokensWithBeta ?? model.maxOutputTokens)
        : model.maxOutputTokens;
    if (maxTokens > limit)
      fail('', `max_tokens: ${maxTokens} > ${limit}, which is the maximum allowed number of output tokens for ${modelId}`);
    if (input.stream !== undefined && input.stream !== null) {
      expectBoolean(input.stream, 'stream');
      if (ctx.mode === 'batch' && input.stream) fail('stream', 'Streaming is not supported in batch requests');
    }
    if (ctx.mode === 'batch' && input.speed !== undefined && input.speed !== null)
      fail('speed', 'Extra inputs are not permitted in batch requests');
  }
  if (ctx.mode === 'batch') {
    for (const f of BATCH_FORBIDDEN) if (f in req) fail(f, 'Extra inputs are not permitted');
  }

  if (thinking?.type === 'enabled') {
    if (!model.budgetTokens)
      fail('', 'thinking.type.enabled is not supported for this model. Use thinking.type.adaptive instead.');
    if (!counting && maxTokens <= (thinking.budget_tokens as number))
      fail('', '`max_tokens` must be greater than `thinking.budget_tokens`.');
  }
  validateToolChoice(input.tool_choice, toolNames, thinking);
  validateSampling(input, model, ctx);
  validateMessages(input.messages, model, ctx, cache);

  if (cache.count > MAX_BREAKPOINTS)
    fail('', `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${cache.count}.`);
  const firstFiveMinute = cache.ttls.indexOf('5m');
  if (firstFiveMinute >= 0 && cache.ttls.lastIndexOf('1h') > firstFiveMinute)
    fail('', 'cache_control entries with ttl "1h" must come before entries with ttl "5m".');

  const estimated = inputTokens(input);
  if (estimated > model.contextWindow)
    throw invalidRequest(`prompt is too long: ${estimated} tokens > ${model.contextWindow} maximum`);

  return { request: input as unknown as MessageRequest, model };
}

function validateThinking(raw: unknown): Json | undefined {
  if (raw === undefined || raw === null) return undefined;
  const thinking = expectObject(raw, 'thinking');
  const type = expectLiteral(thinking.type, ['enabled', 'disabled', 'adaptive', 'between_tools'], 'thinking.type');
  if (type === 'enabled') {
    const budget = expectInteger(required(thinking, 'budget_tokens', 'thinking.enabled.budget_tokens'), 'thinking.enabled.budget_tokens');
    if (budget < 1024) fail('thinking.enabled.budget_tokens', 'Input should be greater than or equal to 1024');
  }
  if (thinking.display !== undefined && thinking.display !== null)
    expectLiteral(thinking.display, ['summarized', 'omitted'], `thinking.${type}.display`);
  return thinking;
}

function validateScalars(req: Json, cache: { count: number; ttls: string[] }): void {
  if (req.system !== undefined && req.system !== null && typeof req.system !== 'string') {
    expectArray(req.system, 'system').forEach((b, k) => {
      const block = expectObject(b, `system.${k}`);
      expectLiteral(block.type, ['text'], `system.${k}.type`);
      expectString(required(block, 'text', `system.${k}.text`), `system.${k}.text`);
      checkCacheControl(block.cache_control, `system.${k}.cache_control`, cache);
    });
  }
  if (req.stop_sequences !== undefined && req.stop_sequences !== null) {
    expectArray(req.stop_sequences, 'stop_sequences').forEach((s, k) => {
      const seq = expectString(s, `stop_sequences.${k}`);
      if (seq.trim().length === 0) fail('stop_sequences', 'each stop sequence must contain non-whitespace');
    });
  }
  if (req.metadata !== undefined && req.metadata !== null) {
    const md = expectObject(req.metadata, 'metadata');
    noExtraFields(md, new Set(['user_id']), 'metadata');
    if (md.user_id !== undefined && md.user_id !== null) expectString(md.user_id, 'metadata.user_id');
  }
  if (req.service_tier !== undefined) expectLiteral(req.service_tier, ['auto', 'standard_only'], 'service_tier');
  if (req.speed !== undefined && req.speed !== null) expectLiteral(req.speed, ['standard', 'fast'], 'speed');
  if (req.inference_geo !== undefined && req.inference_geo !== null) expectString(req.inference_geo, 'inference_geo');
  if (req.output_config !== undefined && req.output_config !== null) {
    const oc = expectObject(req.output_config, 'output_config');
    if (oc.effort !== undefined && oc.effort !== null)
      expectLiteral(oc.effort, ['low', 'medium', 'high', 'xhigh', 'max'], 'output_config.effort');
    if (oc.format !== undefined && oc.format !== null) {
      const fmt = expectObject(oc.format, 'output_config.format');
      expectLiteral(fmt.type, ['json_schema'], 'output_config.format.type');
      expectObject(required(fmt, 'schema', 'output_config.format.schema'), 'output_config.format.schema');
    }
  }
  checkCacheControl(req.cache_control, 'cache_control', cache);
}

function validateSampling(req: Json, model: ModelSpec, ctx: ValidationContext): void {
  if (ctx.apiVersion !== '2023-06-01') return;
  if (req.temperature !== undefined) {
    const t = expectNumber(req.temperature, 'temperature');
    if (t < 0 || t > 1) fail('temperature', 'Input should be less than or equal to 1');
    if (model.restrictsSampling && t !== 1) fail('temperature', 'non-default values are not supported on this model');
  }
  if (req.top_p !== undefined) {
    expectNumber(req.top_p, 'top_p');
    if (model.restrictsSampling) fail('top_p', 'is not supported on this model');
  }
  if (req.top_k !== undefined) {
    expectInteger(req.top_k, 'top_k');
    if (model.restrictsSampling) fail('top_k', 'is not supported on this model');
  }
}

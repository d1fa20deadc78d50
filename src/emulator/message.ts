import type { Message, Usage } from '@anthropic-ai/sdk/resources/messages/messages';
import type { CacheUsage } from './prompt-cache.js';
import type { ShapedOutput } from './shape.js';
import type { MessageRequest } from './types.js';

/** Assembles the full `Message` object, every field present (nulls included), as the API returns it. */
export function buildMessage(
  id: string,
  req: MessageRequest,
  out: ShapedOutput,
  cache: CacheUsage,
  serviceTier: 'standard' | 'batch',
): Message {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: req.model,
    content: out.blocks.map((b) => b.block),
    stop_reason: out.stop_reason,
    stop_sequence: out.stop_sequence,
    stop_details: out.stop_details,
    container: null,
    diagnostics: null,
    usage: buildUsage(req, out, cache, serviceTier),
  };
}

export function buildUsage(req: MessageRequest, out: ShapedOutput, cache: CacheUsage, serviceTier: 'standard' | 'batch'): Usage {
  return {
    input_tokens: cache.input_tokens,
    output_tokens: out.outputTokens,
    cache_creation_input_tokens: cache.cache_creation_input_tokens,
    cache_read_input_tokens: cache.cache_read_input_tokens,
    cache_creation: { ...cache.cache_creation },
    server_tool_use: null,
    service_tier: serviceTier,
    inference_geo: req.inference_geo ?? 'global',
    output_tokens_details: out.thinkingTokens > 0 ? { thinking_tokens: out.thinkingTokens } : null,
    speed: req.speed ?? 'standard',
  };
}

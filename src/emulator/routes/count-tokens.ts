import type { EmulatorCore } from '../core.js';
import { jsonReply, type Reply } from '../http.js';
import { jsonBody, type Call } from '../pipeline.js';
import { inputTokens } from '../tokens.js';
import { validateRequest } from '../validation/request.js';

/** POST /v1/messages/count_tokens: `{input_tokens}` over messages, system and tools; the cache is not touched. */
export async function countTokens(call: Call, core: EmulatorCore): Promise<Reply> {
  const { request } = validateRequest(jsonBody(call), core.validation(call.apiVersion, call.betas, 'count_tokens'));
  return jsonReply(200, { input_tokens: inputTokens(request as unknown as Record<string, unknown>) }, call.requestId);
}

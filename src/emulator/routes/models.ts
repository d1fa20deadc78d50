import type { EmulatorCore } from '../core.js';
import { notFound } from '../errors.js';
import { jsonReply, type Reply } from '../http.js';
import type { ModelSpec } from '../models.js';
import type { Call } from '../pipeline.js';

function info(id: string, m: ModelSpec) {
  return {
    type: 'model',
    id,
    display_name: m.displayName,
    created_at: m.createdAt,
    capabilities: null,
    lifecycle: m.lifecycle,
    line: null,
    max_input_tokens: m.contextWindow,
    max_tokens: m.maxOutputTokens,
    deprecated_at: null,
    retires_at: null,
  };
}

/** GET /v1/models (single page, newest first). */
export async function listModels(call: Call, core: EmulatorCore): Promise<Reply> {
  const data = [...core.models.entries()]
    .sort(([, a], [, b]) => b.createdAt.localeCompare(a.createdAt))
    .map(([id, m]) => info(id, m));
  return jsonReply(200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }, call.requestId);
}

/** GET /v1/models/{id}. */
export async function getModel(call: Call, core: EmulatorCore): Promise<Reply> {
  const id = call.params.id ?? '';
  const m = core.models.get(id);
  if (!m) throw notFound(`model: ${id}`);
  return jsonReply(200, info(id, m), call.requestId);
}

/** Any path the API does not have. */
export async function unknownRoute(call: Call): Promise<Reply> {
  throw notFound(`${call.method} ${call.path} not found`);
}

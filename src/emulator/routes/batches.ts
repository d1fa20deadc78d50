import type { BatchRecord } from '../batches/batch.js';
import { resultsChunks } from '../batches/results.js';
import { validateBatchCreate } from '../batches/validate-create.js';
import type { EmulatorCore } from '../core.js';
import { invalidRequest, notFound } from '../errors.js';
import type { BatchLatencyFault } from '../faults.js';
import { jsonReply, type Reply } from '../http.js';
import { jsonBody, type Call } from '../pipeline.js';

function find(call: Call, core: EmulatorCore): BatchRecord {
  const id = call.params.id ?? '';
  const batch = core.batches.get(id);
  if (!batch) throw notFound(`message_batch ${id} not found`);
  return batch;
}

/** POST /v1/messages/batches: structural checks now, params later (as the API does). */
export async function createBatch(call: Call, core: EmulatorCore): Promise<Reply> {
  const items = validateBatchCreate(jsonBody(call), core.opts.limits.batchRequests, core.opts.strict.batchParamsAtCreate);
  const slow = core.faults.take({ at: 'batch_create', method: call.method, path: call.path }) as BatchLatencyFault | undefined;
  if (slow) call.markFault(slow.kind);
  const batch = core.batches.create(
    items,
    { requestId: call.requestId, apiVersion: call.apiVersion, betas: call.betas },
    core.opts.publicBaseUrl ?? call.origin,
    slow?.ms ?? core.opts.batchLatencyMs,
  );
  return jsonReply(200, batch.toJSON(), call.requestId);
}

/** GET /v1/messages/batches/{id}. */
export async function getBatch(call: Call, core: EmulatorCore): Promise<Reply> {
  return jsonReply(200, find(call, core).toJSON(), call.requestId);
}

/**
 * GET /v1/messages/batches: newest first. `after_id` pages towards older batches; `before_id` returns the `limit`
 * batches just newer than it (still newest first), which is how the SDK pages backwards.
 */
export async function listBatches(call: Call, core: EmulatorCore): Promise<Reply> {
  const limitRaw = call.query.get('limit');
  const limit = limitRaw === null ? 20 : Number(limitRaw);
  if (!Number.isInteger(limit)) throw invalidRequest('limit: Input should be a valid integer');
  if (limit < 1) throw invalidRequest('limit: Input should be greater than or equal to 1');
  if (limit > 1000) throw invalidRequest('limit: Input should be less than or equal to 1000');
  const afterId = call.query.get('after_id');
  const beforeId = call.query.get('before_id');
  if (afterId && beforeId) throw invalidRequest('after_id and before_id cannot both be set');

  const all = core.batches.list();
  const indexOf = (id: string, name: string) => {
    const i = all.findIndex((b) => b.id === id);
    if (i < 0) throw invalidRequest(`${name}: no message batch with id ${id}`);
    return i;
  };
  let page: BatchRecord[];
  let hasMore: boolean;
  if (beforeId) {
    const end = indexOf(beforeId, 'before_id');
    const start = Math.max(0, end - limit);
    page = all.slice(start, end);
    hasMore = start > 0;
  } else {
    const start = afterId ? indexOf(afterId, 'after_id') + 1 : 0;
    page = all.slice(start, start + limit);
    hasMore = start + limit < all.length;
  }
  const data = page.map((b) => b.toJSON());
  return jsonReply(200, { data, has_more: hasMore, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null }, call.requestId);
}

/** POST /v1/messages/batches/{id}/cancel: in_progress → canceling (→ ended shortly); an ended batch is returned as is. */
export async function cancelBatch(call: Call, core: EmulatorCore): Promise<Reply> {
  const batch = find(call, core);
  core.runner.cancel(batch, core.opts.batchCancelLatencyMs);
  return jsonReply(200, batch.toJSON(), call.requestId);
}

/** DELETE /v1/messages/batches/{id}: only once processing has ended. */
export async function deleteBatch(call: Call, core: EmulatorCore): Promise<Reply> {
  const batch = find(call, core);
  if (batch.status !== 'ended')
    throw invalidRequest(`Message batch ${batch.id} cannot be deleted while it is ${batch.status}; cancel it and wait for it to end first.`);
  core.batches.delete(batch.id);
  return jsonReply(200, { id: batch.id, type: 'message_batch_deleted' }, call.requestId);
}

/** GET /v1/messages/batches/{id}/results: streamed JSONL once ended; 404 before that and after archiving. */
export async function batchResults(call: Call, core: EmulatorCore): Promise<Reply> {
  const batch = find(call, core);
  if (batch.status !== 'ended')
    throw notFound(`Results for message batch ${batch.id} are not available yet: processing has not ended.`);
  if (batch.archivedAt !== null) throw notFound(`Results for message batch ${batch.id} have been archived and are no longer available.`);
  return {
    status: 200,
    headers: { 'content-type': 'application/binary', 'request-id': call.requestId },
    body: resultsChunks(batch.id, batch.items, core.opts.shuffleBatchResults),
  };
}

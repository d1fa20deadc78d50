import type { MessageBatchResult } from '@anthropic-ai/sdk/resources/messages/batches';
import { ApiError } from '../errors.js';
import type { FaultBook } from '../faults.js';
import { callModel, type ModelCallDeps } from '../model-call.js';
import type { CallContext, MessageRequest } from '../types.js';
import type { ValidationContext } from '../validation/context.js';
import { validateRequest } from '../validation/request.js';
import type { BatchItem, BatchRecord } from './batch.js';

const errored = (type: string, message: string): MessageBatchResult => ({
  type: 'errored',
  // The SDK types error objects per type; on the wire any {type, message} is valid (e.g. request_too_large).
  error: { type: 'error', error: { type, message } as Extract<MessageBatchResult, { type: 'errored' }>['error']['error'], request_id: null },
});

/**
 * Answers one batch request: an injected batch-item fault wins; then `params` are validated (bad params become
 * `errored` with `invalid_request_error`, as the API validates them asynchronously); then the model answers through
 * the same path as POST /v1/messages, with `service_tier: "batch"`.
 */
export async function processBatchItem(
  item: BatchItem,
  batch: BatchRecord,
  deps: ModelCallDeps & { faults: FaultBook; validation(apiVersion: string, betas: readonly string[]): ValidationContext },
): Promise<MessageBatchResult> {
  const ctx: CallContext = {
    source: 'batch',
    stream: false,
    requestId: batch.origin.requestId,
    apiVersion: batch.origin.apiVersion,
    batchId: batch.id,
    customId: item.customId,
  };
  const fault = deps.faults.take({ at: 'batch_item', request: item.params as MessageRequest, context: ctx });
  if (fault?.kind === 'batch_result') {
    if (fault.result === 'errored') return errored(fault.errorType, fault.message);
    return { type: fault.result };
  }
  try {
    const validated = validateRequest(item.params, deps.validation(batch.origin.apiVersion, batch.origin.betas));
    const outcome = await callModel(validated, ctx, deps);
    if (outcome.kind === 'message') return { type: 'succeeded', message: outcome.message };
    const f = outcome.fault;
    if (f.kind === 'http') return errored(f.errorType, f.message);
    if (f.kind === 'drop') return errored('api_error', 'Internal server error');
    return f.result === 'errored' ? errored(f.errorType, f.message) : { type: f.result };
  } catch (err) {
    if (err instanceof ApiError) return errored(err.type, err.message);
    throw err;
  }
}

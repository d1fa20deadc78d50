import type { EmulatorCore } from '../core.js';
import { jsonReply, type Reply } from '../http.js';
import { callModel } from '../model-call.js';
import { DROPPED, jsonBody, type Call } from '../pipeline.js';
import { messageEvents, sseBody } from '../sse.js';
import { validateRequest } from '../validation/request.js';

/**
 * POST /v1/messages. Validation errors are plain JSON errors even for `stream: true` (the SDK checks the status
 * before parsing SSE); the stream itself is chosen by the body's `stream`, never by `Accept`.
 */
export async function createMessage(call: Call, core: EmulatorCore): Promise<Reply> {
  const validated = validateRequest(jsonBody(call), core.validation(call.apiVersion, call.betas, 'create'));
  const stream = validated.request.stream === true;
  const outcome = await callModel(
    validated,
    { source: 'messages', stream, requestId: call.requestId, apiVersion: call.apiVersion },
    core,
  );

  if (outcome.kind === 'fault') {
    const f = outcome.fault;
    call.markFault(f.kind);
    if (f.kind === 'drop') {
      call.drop();
      return DROPPED;
    }
    if (f.kind === 'http') {
      const body = { type: 'error', error: { type: f.errorType, message: f.message }, request_id: call.requestId };
      return jsonReply(f.status, body, call.requestId, f.headers);
    }
    // Batch-only faults never reach here (callModel maps them); treat defensively as a server error.
    return jsonReply(500, { type: 'error', error: { type: 'api_error', message: 'Internal server error' }, request_id: call.requestId }, call.requestId);
  }

  if (!stream) return jsonReply(200, outcome.message, call.requestId);

  const fault = outcome.streamFault ?? call.streamFault;
  if (fault) call.markFault(fault.kind);
  call.markStream();
  const body = sseBody(messageEvents(outcome.message, outcome.shaped, core.opts.pings), {
    delayMs: core.opts.eventDelayMs,
    requestId: call.requestId,
    drop: call.dropAfterFlush,
    ...(fault ? { fault } : {}),
  });
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': call.requestId },
    body,
  };
}

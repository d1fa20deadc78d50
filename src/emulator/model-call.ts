import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, STATUS_OF, type ApiErrorType } from './errors.js';
import type { BatchResultFault, DropFault, Fault, HttpFault, StreamDropFault, StreamErrorFault } from './faults.js';
import { newId } from './ids.js';
import { buildMessage } from './message.js';
import type { ModelSpec } from './models.js';
import type { PromptCache } from './prompt-cache.js';
import { reply as replies } from './replies.js';
import type { ScriptBook, ScriptReply } from './script.js';
import { shapeOutput, type ShapedOutput } from './shape.js';
import type { Signer } from './signature.js';
import type { CallContext, Responder, ResponderContext, ResponderResult } from './types.js';
import type { ValidatedRequest } from './validation/request.js';
import { defaultResponder } from './responder/default.js';

/** The result of asking "the model": a message (maybe to be cut mid-stream) or a fault standing in for it. */
export type CallOutcome =
  | { kind: 'message'; message: Message; shaped: ShapedOutput; streamFault?: StreamErrorFault | StreamDropFault }
  | { kind: 'fault'; fault: HttpFault | DropFault | BatchResultFault };

/** What a model call needs from the emulator. */
export interface ModelCallDeps {
  scripts: ScriptBook;
  /** The responder for unscripted calls. */
  responder(): Responder;
  signer: Signer;
  cache: PromptCache;
  minCacheableTokens(model: ModelSpec): number;
}

/**
 * Produces the model's answer to a validated request: the first matching script reply, else the responder; then
 * the request's limits, ids, signatures and token usage (with the prompt-cache simulation). Faults scripted as
 * replies are mapped to what fits the call (e.g. a stream fault on a non-streaming call becomes its HTTP twin).
 */
export async function callModel(v: ValidatedRequest, ctx: CallContext, deps: ModelCallDeps): Promise<CallOutcome> {
  const req = v.request;
  const fallback = deps.responder();
  const rctx: ResponderContext = { ...ctx, defaultResponder };
  let answer: ResponderResult | Fault;
  try {
    answer = await resolveReply(deps.scripts.take(req, ctx), req, rctx, fallback);
  } catch (err) {
    throw responderFailure(err);
  }

  let streamFault: StreamErrorFault | StreamDropFault | undefined;
  if ('kind' in answer) {
    const fault = answer;
    switch (fault.kind) {
      case 'http':
      case 'drop':
        return { kind: 'fault', fault };
      case 'batch_result':
        if (ctx.source === 'batch') return { kind: 'fault', fault };
        if (fault.result === 'errored') return { kind: 'fault', fault: httpTwin(fault.errorType, fault.message) };
        break;
      case 'stream_error':
        if (!ctx.stream) return { kind: 'fault', fault: httpTwin(fault.errorType, fault.message) };
        streamFault = fault;
        break;
      case 'stream_drop':
        if (!ctx.stream) return { kind: 'fault', fault: { kind: 'drop' } };
        streamFault = fault;
        break;
      case 'delay':
        await sleep(fault.ms);
        break;
      case 'batch_latency':
        break;
    }
    try {
      answer = checkResult(await fallback(req, rctx));
    } catch (err) {
      throw responderFailure(err);
    }
  }

  const shaped = shapeOutput(req, answer, deps.signer);
  const cache = deps.cache.apply(req.model, req as unknown as Record<string, unknown>, deps.minCacheableTokens(v.model));
  const message = buildMessage(newId('msg'), req, shaped, cache, ctx.source === 'batch' ? 'batch' : 'standard');
  return { kind: 'message', message, shaped, ...(streamFault ? { streamFault } : {}) };
}

async function resolveReply(
  scripted: ScriptReply | undefined,
  req: ValidatedRequest['request'],
  rctx: ResponderContext,
  fallback: Responder,
): Promise<ResponderResult | Fault> {
  let r: ScriptReply | Awaited<ReturnType<Responder>> = scripted ?? (await fallback(req, rctx));
  if (typeof r === 'function') r = await r(req, rctx);
  if (typeof r === 'string') return replies.text(r);
  if (isFault(r)) return r;
  return checkResult(r);
}

function isFault(v: unknown): v is Fault {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';
}

const BLOCK_TYPES = new Set(['text', 'tool_use', 'thinking', 'redacted_thinking']);

function checkResult(r: unknown): ResponderResult {
  const res = r as ResponderResult;
  if (typeof r !== 'object' || r === null || !Array.isArray(res.content))
    throw new TypeError('a reply must be an object with a `content` array');
  for (const b of res.content) {
    if (!b || !BLOCK_TYPES.has(b.type)) throw new TypeError(`unsupported reply block ${JSON.stringify(b)}`);
    if (b.type === 'text' && typeof b.text !== 'string') throw new TypeError('a text block needs `text`');
    if (b.type === 'tool_use' && (typeof b.name !== 'string' || typeof b.input !== 'object' || b.input === null))
      throw new TypeError('a tool_use block needs `name` and an object `input`');
    if (b.type === 'thinking' && typeof b.thinking !== 'string') throw new TypeError('a thinking block needs `thinking`');
  }
  return res;
}

function httpTwin(errorType: string, message: string): HttpFault {
  const status = STATUS_OF[errorType as ApiErrorType] ?? 500;
  return { kind: 'http', status, errorType, message, headers: {} };
}

/** A responder or scripted function that throws is a bug in the test, reported loudly as a 500 with its message. */
function responderFailure(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new ApiError('api_error', `emulator responder failed: ${msg}`);
}

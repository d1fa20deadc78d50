/**
 * agentpg/emulator: an offline HTTP server that speaks the Claude API (Messages, streaming, token counting, Message
 * Batches) closely enough that the official `@anthropic-ai/sdk` works against it by changing only `baseURL`.
 */
export { startEmulator, type Emulator } from './emulator.js';
export type { EmulatorOptions, Limits } from './options.js';
export type { StrictOptions } from './validation/context.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { defaultResponder } from './responder/default.js';
export { reply, type ToolCall } from './replies.js';
export type { ScriptHandle, ScriptReply, ReplyFunction } from './script.js';
export type { RequestMatcher, RequestPattern } from './matcher.js';
export {
  faults,
  type Fault,
  type FaultHandle,
  type FaultTarget,
  type HttpFault,
  type HttpFaultOptions,
  type DropFault,
  type DelayFault,
  type StreamErrorFault,
  type StreamDropFault,
  type BatchResultFault,
  type BatchLatencyFault,
} from './faults.js';
export type { RequestLog, LoggedRequest, RequestQuery } from './request-log.js';
export type { CallContext, MessageRequest, ReplyBlock, Responder, ResponderContext, ResponderResult } from './types.js';
export { KNOWN_MODELS, type ModelSpec } from './models.js';
export type { ApiErrorType } from './errors.js';

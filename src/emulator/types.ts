import type {
  MessageCreateParamsBase,
  RefusalStopDetails,
  StopReason,
} from '@anthropic-ai/sdk/resources/messages/messages';

/** A Messages request body after validation, as responders and matchers see it (batch items: their `params`). */
export type MessageRequest = MessageCreateParamsBase;

/**
 * One block of what "the model" says. Tool ids and thinking signatures are filled in when missing; a signature given
 * here is sent as is (and, in strict mode, rejected when the block is passed back, since the emulator did not sign it).
 */
export type ReplyBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; name: string; input: Record<string, unknown>; id?: string }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted_thinking'; data: string };

/**
 * What a responder returns: the content and, optionally, why it stopped. Without `stop_reason` the emulator infers it
 * (`tool_use` when a tool_use block is present, else `end_turn`). `max_tokens` and `stop_sequences` from the request
 * are applied afterwards, exactly as the model would hit them.
 */
export interface ResponderResult {
  content: ReplyBlock[];
  stop_reason?: StopReason;
  /** With `stop_reason: 'stop_sequence'`: the sequence that matched. */
  stop_sequence?: string | null;
  /** With `stop_reason: 'refusal'`. */
  stop_details?: RefusalStopDetails | null;
}

/** Where a model call comes from, for responders and matchers that need to tell calls apart. */
export interface CallContext {
  source: 'messages' | 'batch';
  /** True for `stream: true` calls (the same content is streamed). */
  stream: boolean;
  /** The `request-id` of the HTTP call; for batch items, the one of the batch's create request. */
  requestId: string;
  /** The `anthropic-version` the call was made with. */
  apiVersion: string;
  batchId?: string;
  customId?: string;
}

/** What a responder gets besides the request. */
export interface ResponderContext extends CallContext {
  /** The emulator's built-in deterministic responder, for responders that only handle some requests. */
  defaultResponder: Responder;
}

/** Decides what "the model" answers. May be async. Throwing makes the call fail with a 500 `api_error`. */
export type Responder = (
  request: MessageRequest,
  context: ResponderContext,
) => ResponderResult | Promise<ResponderResult>;

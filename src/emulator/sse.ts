import type { Message, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages/messages';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StreamDropFault, StreamErrorFault } from './faults.js';
import type { ShapedOutput } from './shape.js';

/** One SSE event: always sent with an `event:` line, since the SDK drops events without one. */
export interface SseEvent {
  event: string;
  data: unknown;
}

const WORDS_PER_DELTA = 3;
const JSON_CHARS_PER_DELTA = 16;

/** Pieces of a text the way the model streams it: a few words at a time. */
function textPieces(text: string): string[] {
  const words = text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += WORDS_PER_DELTA) out.push(words.slice(i, i + WORDS_PER_DELTA).join(''));
  return out;
}

/**
 * The full event sequence for a message (reference §3): message_start (empty content, final input usage), a ping,
 * start/delta/stop per block (text_delta; input_json_delta chunks starting with "" whose concatenation is the
 * block's JSON; thinking_delta then signature_delta), message_delta with cumulative usage, message_stop.
 */
export function* messageEvents(message: Message, shaped: ShapedOutput, pings: boolean): Generator<SseEvent> {
  const u = message.usage;
  const start: RawMessageStreamEvent = {
    type: 'message_start',
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      usage: { ...u, output_tokens: Math.min(1, u.output_tokens) },
    },
  };
  yield { event: start.type, data: start };
  if (pings) yield { event: 'ping', data: { type: 'ping' } };

  for (const [index, { block, json }] of shaped.blocks.entries()) {
    const delta = (d: Extract<RawMessageStreamEvent, { type: 'content_block_delta' }>['delta']): SseEvent => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index, delta: d },
    });
    switch (block.type) {
      case 'text':
        yield { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '', citations: null } } };
        for (const text of textPieces(block.text)) yield delta({ type: 'text_delta', text });
        break;
      case 'tool_use': {
        yield {
          event: 'content_block_start',
          data: { type: 'content_block_start', index, content_block: { ...block, input: {} } },
        };
        yield delta({ type: 'input_json_delta', partial_json: '' });
        const text = json ?? JSON.stringify(block.input);
        for (const partial_json of text.match(new RegExp(`[\\s\\S]{1,${JSON_CHARS_PER_DELTA}}`, 'gu')) ?? [])
          yield delta({ type: 'input_json_delta', partial_json });
        break;
      }
      case 'thinking':
        yield { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } } };
        for (const thinking of textPieces(block.thinking)) yield delta({ type: 'thinking_delta', thinking });
        yield delta({ type: 'signature_delta', signature: block.signature });
        break;
      default:
        // redacted_thinking (and anything else) arrives complete in content_block_start.
        yield { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: block } };
    }
    yield { event: 'content_block_stop', data: { type: 'content_block_stop', index } };
  }

  yield {
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence, stop_details: message.stop_details, container: null },
      // The SDK reads usage.output_tokens unconditionally: message_delta must always carry usage.
      usage: {
        output_tokens: u.output_tokens,
        input_tokens: u.input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        server_tool_use: u.server_tool_use,
        output_tokens_details: u.output_tokens_details,
      },
    },
  };
  yield { event: 'message_stop', data: { type: 'message_stop' } };
}

export function encodeEvent(e: SseEvent): string {
  return `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

export interface StreamOptions {
  /** Pause before each event after the first. */
  delayMs: number;
  fault?: StreamErrorFault | StreamDropFault;
  requestId: string;
  /** Destroys the connection once the events sent so far are flushed (for stream_drop). */
  drop(): Promise<void>;
}

/**
 * An SSE body. Without pauses or faults it is one string (one write: the SDK parses it the same way, and it costs a
 * fraction of event-by-event writes); otherwise the events are written one at a time, so clients see them arrive.
 */
export function sseBody(events: Iterable<SseEvent>, opts: StreamOptions): string | AsyncIterable<string> {
  if (!opts.fault && opts.delayMs <= 0) {
    let body = '';
    for (const e of events) body += encodeEvent(e);
    return body;
  }
  return sseChunks(events, opts);
}

async function* sseChunks(events: Iterable<SseEvent>, opts: StreamOptions): AsyncGenerator<string> {
  let sent = 0;
  for (const event of events) {
    if (opts.fault && sent >= opts.fault.afterEvents) break;
    if (sent > 0 && opts.delayMs > 0) await sleep(opts.delayMs);
    yield encodeEvent(event);
    sent++;
  }
  if (!opts.fault || sent < opts.fault.afterEvents) return;
  if (opts.fault.kind === 'stream_drop') {
    await opts.drop();
    return;
  }
  const error = { type: 'error', error: { type: opts.fault.errorType, message: opts.fault.message }, request_id: opts.requestId };
  yield encodeEvent({ event: 'error', data: error });
}

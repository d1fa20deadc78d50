import type { RefusalStopDetails } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ReplyBlock, ResponderResult } from './types.js';

/** A tool call to put in a scripted reply. */
export interface ToolCall {
  name: string;
  input?: Record<string, unknown>;
  /** Fixed `toolu_…` id; generated when omitted. */
  id?: string;
}

/** Builders for scripted replies. */
export const reply = {
  /** A text answer (`end_turn` unless told otherwise). */
  text(text: string, stop_reason: ResponderResult['stop_reason'] = 'end_turn'): ResponderResult {
    return { content: [{ type: 'text', text }], stop_reason };
  },
  /** One tool call, optionally preceded by text; `stop_reason: 'tool_use'`. */
  toolUse(name: string, input: Record<string, unknown> = {}, options: { id?: string; text?: string } = {}): ResponderResult {
    return reply.toolUses([{ name, input, id: options.id }], options.text);
  },
  /** Several parallel tool calls, optionally preceded by text; `stop_reason: 'tool_use'`. */
  toolUses(calls: ToolCall[], text?: string): ResponderResult {
    const content: ReplyBlock[] = text ? [{ type: 'text', text }] : [];
    for (const c of calls) content.push({ type: 'tool_use', name: c.name, input: c.input ?? {}, ...(c.id ? { id: c.id } : {}) });
    return { content, stop_reason: 'tool_use' };
  },
  /** Puts a thinking block (signed by the emulator) in front of another reply. */
  thinking(thinking: string, then: ResponderResult): ResponderResult {
    return { ...then, content: [{ type: 'thinking', thinking }, ...then.content] };
  },
  /** A refusal (`stop_reason: 'refusal'` with `stop_details`). */
  refusal(text = "I can't help with that.", category: RefusalStopDetails['category'] = null): ResponderResult {
    return {
      content: text ? [{ type: 'text', text }] : [],
      stop_reason: 'refusal',
      stop_details: { type: 'refusal', category, explanation: null },
    };
  },
  /** A `pause_turn` (a long server-tool turn paused; the client resends to continue). */
  pauseTurn(text = ''): ResponderResult {
    return { content: text ? [{ type: 'text', text }] : [], stop_reason: 'pause_turn' };
  },
  /** Any blocks and stop reason. */
  blocks(content: ReplyBlock[], stop_reason?: ResponderResult['stop_reason']): ResponderResult {
    return { content, ...(stop_reason ? { stop_reason } : {}) };
  },
};

import type { ContentBlock, StopReason, RefusalStopDetails } from '@anthropic-ai/sdk/resources/messages/messages';
import { newId } from './ids.js';
import type { Signer } from './signature.js';
import { tokensForChars } from './tokens.js';
import type { MessageRequest, ResponderResult, ReplyBlock } from './types.js';

/** A response block plus, for tool_use, the exact JSON text to stream (a prefix when truncated). */
export interface ShapedBlock {
  block: ContentBlock;
  json?: string;
}

/** The model's output after the request's limits were applied. */
export interface ShapedOutput {
  blocks: ShapedBlock[];
  stop_reason: StopReason;
  stop_sequence: string | null;
  stop_details: RefusalStopDetails | null;
  outputTokens: number;
  thinkingTokens: number;
}

const toolCost = (name: string, json: string) => tokensForChars(name.length + json.length);

/**
 * Turns a responder's reply into what the API returns for this request, as if the model had generated it token by
 * token: output stops at the first stop sequence in text, or when `max_tokens` runs out (text and thinking are cut,
 * a tool_use keeps the properties that fit and its streamed JSON is left unfinished). Fills in tool ids and thinking
 * signatures, and blanks thinking text when the request asked for `display: 'omitted'`.
 */
export function shapeOutput(req: MessageRequest, reply: ResponderResult, signer: Signer): ShapedOutput {
  let budget = req.max_tokens;
  const stops = req.stop_sequences ?? [];
  const omitThinking = req.thinking && 'display' in req.thinking && req.thinking.display === 'omitted';
  const blocks: ShapedBlock[] = [];
  let used = 0;
  let thinkingTokens = 0;
  let stopped: { reason: 'max_tokens' } | { reason: 'stop_sequence'; sequence: string } | undefined;

  for (const b of reply.content) {
    if (budget <= 0) {
      stopped = { reason: 'max_tokens' };
      break;
    }
    const r = shapeBlock(b, budget, stops, signer, omitThinking === true);
    if (r.shaped) blocks.push(r.shaped);
    used += r.cost;
    budget -= r.cost;
    if (b.type === 'thinking') thinkingTokens += r.cost;
    if (r.stop) {
      stopped = r.stop;
      break;
    }
  }

  const hasToolUse = blocks.some((s) => s.block.type === 'tool_use');
  const stop_reason: StopReason = stopped?.reason ?? reply.stop_reason ?? (hasToolUse ? 'tool_use' : 'end_turn');
  const stop_sequence =
    stopped?.reason === 'stop_sequence' ? stopped.sequence : stop_reason === 'stop_sequence' ? (reply.stop_sequence ?? null) : null;
  return {
    blocks,
    stop_reason,
    stop_sequence,
    stop_details: stop_reason === 'refusal' ? (reply.stop_details ?? { type: 'refusal', category: null, explanation: null }) : null,
    // The API never reports 0 output tokens, except when max_tokens is 0 and nothing could be generated.
    outputTokens: req.max_tokens === 0 ? 0 : Math.max(1, used),
    thinkingTokens,
  };
}

interface BlockResult {
  shaped?: ShapedBlock;
  cost: number;
  stop?: { reason: 'max_tokens' } | { reason: 'stop_sequence'; sequence: string };
}

function shapeBlock(b: ReplyBlock, budget: number, stops: string[], signer: Signer, omitThinking: boolean): BlockResult {
  switch (b.type) {
    case 'text': {
      const allowed = budget * 4;
      let cut: { at: number; seq: string } | undefined;
      for (const seq of stops) {
        const at = b.text.indexOf(seq);
        if (at >= 0 && at + seq.length <= allowed && (!cut || at < cut.at)) cut = { at, seq };
      }
      if (cut) {
        const text = b.text.slice(0, cut.at);
        return {
          shaped: text ? { block: { type: 'text', text, citations: null } } : undefined,
          cost: tokensForChars(text.length),
          stop: { reason: 'stop_sequence', sequence: cut.seq },
        };
      }
      if (b.text.length > allowed) {
        return { shaped: { block: { type: 'text', text: b.text.slice(0, allowed), citations: null } }, cost: budget, stop: { reason: 'max_tokens' } };
      }
      return { shaped: { block: { type: 'text', text: b.text, citations: null } }, cost: tokensForChars(b.text.length) };
    }
    case 'tool_use': {
      const id = b.id ?? newId('toolu');
      const json = JSON.stringify(b.input);
      const cost = toolCost(b.name, json);
      if (cost <= budget) {
        return { shaped: { block: { type: 'tool_use', id, name: b.name, input: b.input, caller: { type: 'direct' } }, json }, cost };
      }
      // Keep the properties that fit; stream their JSON without the closing brace, as a cut-off generation would.
      const kept: Record<string, unknown> = {};
      let prefix = '{';
      for (const [k, v] of Object.entries(b.input)) {
        const piece = `${prefix === '{' ? '' : ','}${JSON.stringify(k)}:${JSON.stringify(v)}`;
        if (toolCost(b.name, prefix + piece) > budget) break;
        prefix += piece;
        kept[k] = v;
      }
      return {
        shaped: { block: { type: 'tool_use', id, name: b.name, input: kept, caller: { type: 'direct' } }, json: prefix },
        cost: budget,
        stop: { reason: 'max_tokens' },
      };
    }
    case 'thinking': {
      const allowed = budget * 4;
      const truncated = b.thinking.length > allowed;
      const full = truncated ? b.thinking.slice(0, allowed) : b.thinking;
      const shown = omitThinking ? '' : full;
      const signature = b.signature ?? signer.sign(shown);
      return {
        shaped: { block: { type: 'thinking', thinking: shown, signature } },
        cost: truncated ? budget : tokensForChars(full.length),
        stop: truncated ? { reason: 'max_tokens' } : undefined,
      };
    }
    case 'redacted_thinking':
      return { shaped: { block: { type: 'redacted_thinking', data: b.data } }, cost: Math.min(budget, tokensForChars(b.data.length / 4)) };
  }
}

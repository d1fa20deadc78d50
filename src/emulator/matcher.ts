import { latestUserText } from './responder/text.js';
import type { CallContext, MessageRequest } from './types.js';

/**
 * Selects model calls. An object matches when every field it sets matches (an "agent" in agentpg is its system
 * prompt and tools, so `system` + `toolNames` pick one agent's calls); a function decides by itself.
 */
export type RequestMatcher = RequestPattern | ((request: MessageRequest, context: CallContext) => boolean);

export interface RequestPattern {
  /** The system prompt (string, or its text blocks joined by "\n"): a string matches when contained, a RegExp when it tests true. */
  system?: string | RegExp;
  /** The text of the latest user turn (tool results excluded): contained string or RegExp. */
  lastUserText?: string | RegExp;
  /** The model id: exact string or RegExp. */
  model?: string | RegExp;
  /** Every one of these tool names is offered in `tools`. */
  toolNames?: readonly string[];
  /** Batch items only: the `custom_id`, exact string or RegExp. */
  customId?: string | RegExp;
  /** Only calls from this source. */
  source?: 'messages' | 'batch';
  /** Only streaming (true) or non-streaming (false) calls. */
  stream?: boolean;
}

export function systemText(req: MessageRequest): string {
  if (!req.system) return '';
  return typeof req.system === 'string' ? req.system : req.system.map((b) => b.text).join('\n');
}

const textMatches = (value: string, want: string | RegExp) =>
  typeof want === 'string' ? value.includes(want) : testRegExp(want, value);
const exactMatches = (value: string, want: string | RegExp) =>
  typeof want === 'string' ? value === want : testRegExp(want, value);

/** `lastIndex` of a global RegExp would make alternate calls fail; reset it so a pattern is reusable. */
function testRegExp(re: RegExp, value: string): boolean {
  re.lastIndex = 0;
  return re.test(value);
}

/** True when `matcher` selects this call. A throwing matcher selects nothing. */
export function matches(matcher: RequestMatcher, req: MessageRequest, ctx: CallContext): boolean {
  try {
    if (typeof matcher === 'function') return matcher(req, ctx);
    if (matcher.source !== undefined && matcher.source !== ctx.source) return false;
    if (matcher.stream !== undefined && matcher.stream !== ctx.stream) return false;
    if (matcher.model !== undefined && !exactMatches(String(req.model), matcher.model)) return false;
    if (matcher.customId !== undefined && (ctx.customId === undefined || !exactMatches(ctx.customId, matcher.customId)))
      return false;
    if (matcher.system !== undefined && !textMatches(systemText(req), matcher.system)) return false;
    if (matcher.lastUserText !== undefined && !textMatches(latestUserText(req), matcher.lastUserText)) return false;
    if (matcher.toolNames !== undefined) {
      const offered = new Set((req.tools ?? []).map((t) => ('name' in t ? t.name : undefined)));
      if (!matcher.toolNames.every((n) => offered.has(n))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

import { createHash } from 'node:crypto';

/**
 * Token estimates: about four characters per token, plus small fixed overheads for message framing. Deterministic,
 * so tests can assert exact numbers. The same estimate feeds count_tokens, usage and the prompt-cache simulation.
 */
export const tokensForChars = (chars: number): number => Math.ceil(chars / 4);

const REQUEST_OVERHEAD = 3;
const MESSAGE_OVERHEAD = 4;
const IMAGE_TOKENS = 1600;

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Estimated tokens of one input content block (or a string turn). */
export function inputBlockTokens(block: unknown): number {
  if (typeof block === 'string') return tokensForChars(block.length);
  if (!isObj(block)) return 0;
  switch (block.type) {
    case 'text':
      return tokensForChars(String(block.text ?? '').length);
    case 'image':
      return IMAGE_TOKENS;
    case 'document': {
      const source = isObj(block.source) ? block.source : {};
      if (source.type === 'text') return tokensForChars(String(source.data ?? '').length);
      if (source.type === 'content' && Array.isArray(source.content))
        return source.content.reduce((n: number, b) => n + inputBlockTokens(b), 0);
      // A PDF costs text plus page images; the base64 size is the only size we have.
      if (source.type === 'base64') return Math.max(IMAGE_TOKENS, tokensForChars(String(source.data ?? '').length));
      return IMAGE_TOKENS;
    }
    case 'tool_use':
      return tokensForChars(String(block.name ?? '').length + JSON.stringify(block.input ?? {}).length) + 4;
    case 'tool_result': {
      const c = block.content;
      const inner = typeof c === 'string' ? tokensForChars(c.length) : Array.isArray(c) ? c.reduce((n: number, b) => n + inputBlockTokens(b), 0) : 0;
      return inner + 4;
    }
    case 'thinking':
      return tokensForChars(String(block.thinking ?? '').length);
    case 'redacted_thinking':
      return tokensForChars(String(block.data ?? '').length / 4);
    default: {
      const { cache_control: _ignored, ...rest } = block;
      return tokensForChars(JSON.stringify(rest).length);
    }
  }
}

/** A piece of the prompt in cache order (tools, then system, then messages), with its estimate and breakpoint. */
export interface PromptUnit {
  tokens: number;
  /** Canonical text of the unit; the cache key of a prefix is the hash of all units up to it. */
  key: string;
  /** The unit carries a `cache_control` breakpoint. */
  breakpoint: null | { ttl: '5m' | '1h' };
}

function breakpointOf(v: unknown): PromptUnit['breakpoint'] {
  if (!isObj(v) || !isObj(v.cache_control)) return null;
  return { ttl: v.cache_control.ttl === '1h' ? '1h' : '5m' };
}

function keyOf(v: unknown): string {
  if (isObj(v) && 'cache_control' in v) {
    const { cache_control: _ignored, ...rest } = v;
    return JSON.stringify(rest);
  }
  return JSON.stringify(v);
}

/** The prompt split into cacheable units. Request and message overheads are folded into the units that follow them. */
export function promptUnits(req: Json): PromptUnit[] {
  const units: PromptUnit[] = [];
  let carry = REQUEST_OVERHEAD;
  const push = (v: unknown, tokens: number) => {
    units.push({ tokens: tokens + carry, key: keyOf(v), breakpoint: breakpointOf(v) });
    carry = 0;
  };
  if (Array.isArray(req.tools)) for (const tool of req.tools) push(tool, tokensForChars(keyOf(tool).length));
  if (typeof req.system === 'string') push(req.system, tokensForChars(req.system.length));
  else if (Array.isArray(req.system)) for (const b of req.system) push(b, inputBlockTokens(b));
  if (Array.isArray(req.messages)) {
    for (const m of req.messages) {
      if (!isObj(m)) continue;
      carry += MESSAGE_OVERHEAD;
      if (typeof m.content === 'string') push(`${String(m.role)}:${m.content}`, tokensForChars(m.content.length));
      else if (Array.isArray(m.content)) for (const b of m.content) push(b, inputBlockTokens(b));
    }
  }
  if (carry > 0) units.push({ tokens: carry, key: '', breakpoint: null });
  // Top-level cache_control marks the last cacheable block automatically.
  const top = breakpointOf(req);
  if (top) {
    for (let i = units.length - 1; i >= 0; i--) {
      const u = units[i]!;
      if (u.key === '') continue;
      if (!u.breakpoint) u.breakpoint = top;
      break;
    }
  }
  return units;
}

/** Estimated input tokens of a request (what count_tokens returns and usage splits into cached/uncached). */
export function inputTokens(req: Json): number {
  return promptUnits(req).reduce((n, u) => n + u.tokens, 0);
}

/** Running hashes of the prompt prefix ending at each unit, keyed by model. */
export function prefixHashes(model: string, units: PromptUnit[]): string[] {
  const h = createHash('sha256').update(model);
  return units.map((u) => {
    h.update('\u0000').update(u.key);
    return h.copy().digest('base64url');
  });
}

import type { ModelSpec } from '../models.js';
import {
  checkCacheControl,
  expectArray,
  expectBoolean,
  expectLiteral,
  expectObject,
  expectPattern,
  expectString,
  fail,
  required,
  type Json,
} from './check.js';
import type { ValidationContext } from './context.js';

const MAX_MESSAGES = 100_000;
const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;

const SERVER_RESULT_TYPES = [
  'web_search_tool_result',
  'web_fetch_tool_result',
  'code_execution_tool_result',
  'bash_code_execution_tool_result',
  'text_editor_code_execution_tool_result',
  'tool_search_tool_result',
] as const;

const USER_BLOCKS = new Set(['text', 'image', 'document', 'search_result', 'tool_result', 'container_upload']);
const ASSISTANT_BLOCKS = new Set<string>([
  'text',
  'thinking',
  'redacted_thinking',
  'tool_use',
  'server_tool_use',
  'document',
  ...SERVER_RESULT_TYPES,
]);
const ALL_BLOCKS = new Set([...USER_BLOCKS, ...ASSISTANT_BLOCKS]);

interface Turn {
  role: 'user' | 'assistant' | 'system';
  /** Index of each original message merged into this turn. */
  indexes: number[];
  blocks: { block: Json; index: number; blockIndex: number }[];
}

/** Validates `messages` (shape, roles, ordering, tool pairing, version rules) and returns nothing; throws 400s. */
export function validateMessages(
  raw: unknown,
  model: ModelSpec,
  ctx: ValidationContext,
  cache: { count: number; ttls: string[] },
): void {
  const messages = expectArray(raw, 'messages');
  if (messages.length === 0) fail('messages', 'at least one message is required');
  if (messages.length > MAX_MESSAGES)
    fail('messages', `List should have at most ${MAX_MESSAGES} items after validation, not ${messages.length}`);

  const turns: Turn[] = [];
  messages.forEach((m, i) => {
    const path = `messages.${i}`;
    const msg = expectObject(m, path);
    const role = expectLiteral(required(msg, 'role', `${path}.role`), ['user', 'assistant', 'system'], `${path}.role`);
    const content = required(msg, 'content', `${path}.content`);
    for (const key of Object.keys(msg)) {
      if (key !== 'role' && key !== 'content') fail(`${path}.${key}`, 'Extra inputs are not permitted');
    }
    const blocks = normalizeContent(content, path);
    const isLast = i === messages.length - 1;
    if (blocks.length === 0 && !(isLast && role === 'assistant'))
      fail(path, 'all messages must have non-empty content except for the optional final assistant message');
    blocks.forEach((b, j) => validateBlock(b, role, `${path}.content.${j}`, ctx, cache, typeof content === 'string'));
    const last = turns.at(-1);
    const entries = blocks.map((block, blockIndex) => ({ block, index: i, blockIndex }));
    if (last && last.role === role) {
      last.indexes.push(i);
      last.blocks.push(...entries);
    } else turns.push({ role, indexes: [i], blocks: entries });
  });

  checkRoles(turns, model);
  checkToolPairing(turns);
  checkPrefill(turns, model);
}

function normalizeContent(content: unknown, path: string): Json[] {
  if (typeof content === 'string') return content.length === 0 ? [] : [{ type: 'text', text: content }];
  const arr = expectArray(content, `${path}.content`);
  return arr.map((b, j) => expectObject(b, `${path}.content.${j}`));
}

function validateBlock(
  block: Json,
  role: Turn['role'],
  path: string,
  ctx: ValidationContext,
  cache: { count: number; ttls: string[] },
  fromString: boolean,
): void {
  const type = expectString(required(block, 'type', `${path}.type`), `${path}.type`);
  if (!ALL_BLOCKS.has(type))
    fail(path, `Input tag '${type}' found using 'type' does not match any of the expected tags`);
  const allowed = role === 'assistant' ? ASSISTANT_BLOCKS : role === 'user' ? USER_BLOCKS : new Set(['text']);
  if (!allowed.has(type)) fail(path, `\`${type}\` blocks are not allowed in ${role} messages`);
  checkCacheControl(block.cache_control, `${path}.${type}.cache_control`, cache);
  const at = `${path}.${type}`;
  switch (type) {
    case 'text': {
      const text = expectString(required(block, 'text', `${at}.text`), `${at}.text`);
      if (text.length === 0 && !fromString) fail('messages', 'text content blocks must be non-empty');
      const citations = block.citations;
      if (Array.isArray(citations) && citations.length > 0 && role === 'user' && ctx.apiVersion === '2026-10-21')
        fail(`${at}.citations`, 'citations are not supported in user messages under anthropic-version 2026-10-21');
      break;
    }
    case 'image':
      validateSource(block, at, 'image');
      break;
    case 'document':
      if (role === 'assistant' && ctx.apiVersion === '2026-10-21')
        fail(path, 'document blocks are not supported in assistant messages under anthropic-version 2026-10-21');
      validateSource(block, at, 'document');
      break;
    case 'tool_use':
    case 'server_tool_use':
      expectPattern(required(block, 'id', `${at}.id`), TOOL_USE_ID, `${at}.id`);
      expectString(required(block, 'name', `${at}.name`), `${at}.name`);
      expectObject(required(block, 'input', `${at}.input`), `${at}.input`);
      break;
    case 'tool_result': {
      expectPattern(required(block, 'tool_use_id', `${at}.tool_use_id`), TOOL_USE_ID, `${at}.tool_use_id`);
      if (block.is_error !== undefined && block.is_error !== null) expectBoolean(block.is_error, `${at}.is_error`);
      const c = block.content;
      if (c !== undefined && c !== null && typeof c !== 'string') {
        expectArray(c, `${at}.content`).forEach((inner, k) => {
          const ib = expectObject(inner, `${at}.content.${k}`);
          const it = expectString(required(ib, 'type', `${at}.content.${k}.type`), `${at}.content.${k}.type`);
          if (!['text', 'image', 'search_result', 'document', 'tool_reference'].includes(it))
            fail(`${at}.content.${k}`, `Input tag '${it}' found using 'type' does not match any of the expected tags`);
          if (it === 'text') expectString(required(ib, 'text', `${at}.content.${k}.text.text`), `${at}.content.${k}.text.text`);
          checkCacheControl(ib.cache_control, `${at}.content.${k}.cache_control`, cache);
        });
      }
      break;
    }
    case 'thinking': {
      const thinking = expectString(required(block, 'thinking', `${at}.thinking`), `${at}.thinking`);
      const signature = expectString(required(block, 'signature', `${at}.signature`), `${at}.signature`);
      if (ctx.strict.thinkingSignatures && !ctx.verifySignature(thinking, signature))
        fail(path, 'Invalid `signature` in `thinking` block');
      break;
    }
    case 'redacted_thinking':
      expectString(required(block, 'data', `${at}.data`), `${at}.data`);
      break;
    default:
      break;
  }
}

function validateSource(block: Json, at: string, kind: 'image' | 'document'): void {
  const source = expectObject(required(block, 'source', `${at}.source`), `${at}.source`);
  const types = kind === 'image' ? (['base64', 'url', 'file'] as const) : (['base64', 'text', 'content', 'url', 'file'] as const);
  const st = expectLiteral(source.type, types, `${at}.source.type`);
  const sp = `${at}.source.${st}`;
  if (st === 'base64') {
    if (kind === 'image') expectLiteral(source.media_type, IMAGE_TYPES, `${sp}.media_type`);
    else expectLiteral(source.media_type, ['application/pdf'], `${sp}.media_type`);
    expectString(required(source, 'data', `${sp}.data`), `${sp}.data`);
  } else if (st === 'text') {
    expectString(required(source, 'data', `${sp}.data`), `${sp}.data`);
  } else if (st === 'content') {
    required(source, 'content', `${sp}.content`);
  } else if (st === 'url') {
    expectString(required(source, 'url', `${sp}.url`), `${sp}.url`);
  } else {
    expectString(required(source, 'file_id', `${sp}.file_id`), `${sp}.file_id`);
  }
}

function checkRoles(turns: Turn[], model: ModelSpec): void {
  const first = turns[0]!;
  if (first.role !== 'user') fail('messages', 'first message must use the "user" role');
  turns.forEach((turn, t) => {
    if (turn.role !== 'system') return;
    const i = turn.indexes[0]!;
    if (!model.systemRole) fail(`messages.${i}`, "role 'system' is not supported on this model");
    if (turns[t - 1]?.role !== 'user') fail(`messages.${i}`, "role 'system' messages must directly follow a user message");
  });
}

function checkToolPairing(turns: Turn[]): void {
  const seen = new Set<string>();
  turns.forEach((turn, t) => {
    if (turn.role === 'assistant') {
      const ids: string[] = [];
      for (const { block, index, blockIndex } of turn.blocks) {
        if (block.type !== 'tool_use') continue;
        const id = block.id as string;
        if (seen.has(id)) fail(`messages.${index}.content.${blockIndex}`, '`tool_use` ids must be unique');
        seen.add(id);
        ids.push(id);
      }
      if (ids.length === 0) return;
      const next = turns[t + 1];
      const answered = new Set(
        next?.role === 'user' ? next.blocks.filter((b) => b.block.type === 'tool_result').map((b) => b.block.tool_use_id) : [],
      );
      const missing = ids.filter((id) => !answered.has(id));
      if (missing.length > 0) {
        fail(
          `messages.${turn.indexes.at(-1)}`,
          `\`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. ` +
            'Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
        );
      }
    } else if (turn.role === 'user') {
      const prev = turns[t - 1];
      const offered = new Set(
        prev?.role === 'assistant' ? prev.blocks.filter((b) => b.block.type === 'tool_use').map((b) => b.block.id) : [],
      );
      for (const { block, index, blockIndex } of turn.blocks) {
        if (block.type === 'tool_result' && !offered.has(block.tool_use_id)) {
          fail(
            `messages.${index}.content.${blockIndex}`,
            `unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(block.tool_use_id)}. ` +
              'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
          );
        }
      }
    }
  });
}

function checkPrefill(turns: Turn[], model: ModelSpec): void {
  const last = turns.at(-1)!;
  if (last.role !== 'assistant') return;
  if (!model.prefill) fail('', 'Prefilling assistant messages is not supported for this model.');
  const tail = last.blocks.at(-1)?.block;
  if (tail && tail.type === 'text' && typeof tail.text === 'string' && /\s$/.test(tail.text))
    fail('', 'final assistant content cannot end with trailing whitespace');
}


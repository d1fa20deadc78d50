import type { ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import type { ReplyBlock, Responder, ResponderResult, MessageRequest } from '../types.js';
import { answerArithmetic } from './arithmetic.js';
import { inputFromSchema } from './schema-input.js';
import { clip, lastUserIndex, latestUserText, textOfContent } from './text.js';
import { chooseTools, customTools, isAgentTool } from './tool-match.js';

/**
 * The built-in deterministic "model". In order:
 * 1. The latest user turn holds tool results → an `end_turn` answer quoting each result (and saying so when one
 *    is an error).
 * 2. The request offers tools the user's text asks for (see {@link chooseTools}) → one `tool_use` per tool, inputs
 *    built from the tool's input schema and the text; agent tools (`{task: string}`) get the whole text as `task`.
 * 3. Otherwise an `end_turn` text: the result of simple arithmetic in the text, else "You said: …".
 * With thinking enabled (or adaptive) a short thinking block comes first.
 */
export const defaultResponder: Responder = (req) => {
  const result = respond(req);
  if (req.thinking?.type === 'enabled' || req.thinking?.type === 'adaptive') {
    result.content.unshift({ type: 'thinking', thinking: thoughtAbout(req, result) });
  }
  return result;
};

function respond(req: MessageRequest): ResponderResult {
  const results = latestToolResults(req);
  if (results.length > 0) return { content: [{ type: 'text', text: answerFromResults(req, results) }], stop_reason: 'end_turn' };

  const text = latestUserText(req);
  const picked = chooseTools(customTools(req), text, req.tool_choice);
  if (picked.length > 0) {
    const calls: ReplyBlock[] = picked.map((tool) => ({
      type: 'tool_use',
      name: tool.name,
      input: isAgentTool(tool) ? { task: text } : inputFromSchema(tool.input_schema, text),
    }));
    return { content: calls, stop_reason: 'tool_use' };
  }

  const sum = answerArithmetic(text);
  const answer = sum ?? (text ? `You said: ${clip(text, 500)}` : 'Hello! How can I help?');
  return { content: [{ type: 'text', text: answer }], stop_reason: 'end_turn' };
}

function latestToolResults(req: MessageRequest): ToolResultBlockParam[] {
  const i = lastUserIndex(req);
  const content = i < 0 ? undefined : req.messages[i]!.content;
  if (!Array.isArray(content)) return [];
  return content.filter((b): b is ToolResultBlockParam => b.type === 'tool_result');
}

function answerFromResults(req: MessageRequest, results: ToolResultBlockParam[]): string {
  const names = new Map<string, string>();
  for (const m of req.messages) {
    if (m.role !== 'assistant' || typeof m.content === 'string') continue;
    for (const b of m.content) if (b.type === 'tool_use') names.set(b.id, b.name);
  }
  return results
    .map((r) => {
      const name = names.get(r.tool_use_id) ?? 'the tool';
      const output = clip(textOfContent(r.content).trim(), 2000) || '(no output)';
      return r.is_error ? `The ${name} tool reported an error: ${output}` : `${name} returned: ${output}`;
    })
    .join('\n');
}

function thoughtAbout(req: MessageRequest, result: ResponderResult): string {
  const text = clip(latestUserText(req), 120);
  const calls = result.content.flatMap((b) => (b.type === 'tool_use' ? [b.name] : []));
  const plan = calls.length > 0 ? `call ${calls.join(' and ')}` : 'answer directly';
  return `The user wrote: "${text}". I will ${plan}.`;
}

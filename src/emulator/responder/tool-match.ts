import type { Tool, ToolChoice } from '@anthropic-ai/sdk/resources/messages/messages';
import type { MessageRequest } from '../types.js';
import { meaningfulWords } from './text.js';

/** A custom tool offered in the request (server tools run on Anthropic's side, so the default model never calls them). */
export type CustomTool = Pick<Tool, 'name' | 'description' | 'input_schema'>;

export function customTools(req: MessageRequest): CustomTool[] {
  return (req.tools ?? []).filter(
    (t): t is Tool => !('type' in t) || t.type === undefined || t.type === null || t.type === 'custom',
  );
}

/** An agent offered as a tool: its input schema is exactly `{task: string}`. */
export function isAgentTool(tool: CustomTool): boolean {
  const schema = tool.input_schema as Record<string, unknown>;
  const props = schema.properties as Record<string, { type?: unknown }> | undefined;
  if (!props || Object.keys(props).length !== 1 || props.task?.type !== 'string') return false;
  const req = schema.required;
  return req === undefined || (Array.isArray(req) && req.length <= 1 && (req.length === 0 || req[0] === 'task'));
}

/** True when `text` names the tool: "ask researcher", "delegate to the research_bot" or "research bot". */
export function mentionsName(text: string, name: string): boolean {
  const lower = text.toLowerCase();
  const variants = new Set([name.toLowerCase(), name.toLowerCase().replace(/[_-]+/g, ' ')]);
  for (const v of variants) {
    const escaped = v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (new RegExp(`(^|[^a-z0-9_])${escaped}([^a-z0-9_]|$)`).test(lower)) return true;
  }
  return false;
}

/**
 * The tools the default model calls for `text`, honouring `tool_choice`:
 * agent tools when the text names them; other tools when a meaningful word of their name or description appears
 * in the text. `any` falls back to the first tool, `tool` forces the named one, `none` calls nothing, and
 * `disable_parallel_tool_use` keeps only the first match.
 */
export function chooseTools(tools: CustomTool[], text: string, choice: ToolChoice | undefined): CustomTool[] {
  if (choice?.type === 'none' || tools.length === 0) return [];
  if (choice?.type === 'tool') {
    const forced = tools.find((t) => t.name === choice.name);
    return forced ? [forced] : [];
  }
  const userWords = meaningfulWords(text);
  const matched = tools.filter((tool) => {
    if (isAgentTool(tool)) return mentionsName(text, tool.name);
    const toolWords = meaningfulWords(`${tool.name.replace(/[_-]+/g, ' ')} ${tool.description ?? ''}`);
    for (const w of toolWords) if (userWords.has(w)) return true;
    return false;
  });
  if (matched.length === 0 && choice?.type === 'any') matched.push(tools[0]!);
  const single = choice && 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use;
  return single ? matched.slice(0, 1) : matched;
}

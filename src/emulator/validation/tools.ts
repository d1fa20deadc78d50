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

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
/** Versioned server/client tool types look like `web_search_20250305`. */
const VERSIONED_TYPE = /^[a-z][a-z0-9_]*_\d{8}$/;

/** Validates `tools` and returns the names offered (used to check `tool_choice`). */
export function validateTools(raw: unknown, cache: { count: number; ttls: string[] }): string[] {
  if (raw === undefined || raw === null) return [];
  const tools = expectArray(raw, 'tools');
  const names: string[] = [];
  tools.forEach((t, k) => {
    const path = `tools.${k}`;
    const tool = expectObject(t, path);
    const type = tool.type;
    if (type !== undefined && type !== null && type !== 'custom') {
      const ty = expectString(type, `${path}.type`);
      if (!VERSIONED_TYPE.test(ty)) fail(path, `Input tag '${ty}' found using 'type' does not match any of the expected tags`);
      names.push(expectString(required(tool, 'name', `${path}.${ty}.name`), `${path}.${ty}.name`));
      checkCacheControl(tool.cache_control, `${path}.${ty}.cache_control`, cache);
      return;
    }
    const at = `${path}.custom`;
    names.push(expectPattern(required(tool, 'name', `${at}.name`), TOOL_NAME, `${at}.name`));
    if (tool.description !== undefined) expectString(tool.description, `${at}.description`);
    const schema = expectObject(required(tool, 'input_schema', `${at}.input_schema`), `${at}.input_schema`);
    expectLiteral(schema.type, ['object'], `${at}.input_schema.type`);
    if (tool.strict !== undefined && tool.strict !== null) expectBoolean(tool.strict, `${at}.strict`);
    checkCacheControl(tool.cache_control, `${at}.cache_control`, cache);
  });
  if (new Set(names).size !== names.length) fail('tools', 'Tool names must be unique.');
  return names;
}

/** Validates `tool_choice` against the offered tools and thinking. */
export function validateToolChoice(raw: unknown, toolNames: string[], thinking: Json | undefined): void {
  if (raw === undefined || raw === null) return;
  const choice = expectObject(raw, 'tool_choice');
  const type = expectLiteral(choice.type, ['auto', 'any', 'tool', 'none'], 'tool_choice.type');
  if (choice.disable_parallel_tool_use !== undefined)
    expectBoolean(choice.disable_parallel_tool_use, `tool_choice.${type}.disable_parallel_tool_use`);
  if ((type === 'any' || type === 'tool') && toolNames.length === 0)
    fail('', 'tool_choice may only be specified while providing tools.');
  if (type === 'tool') {
    const name = expectString(required(choice, 'name', 'tool_choice.tool.name'), 'tool_choice.tool.name');
    if (!toolNames.includes(name)) fail('tool_choice.tool.name', `Tool '${name}' not found in tools`);
  }
  if ((type === 'any' || type === 'tool') && thinking && (thinking.type === 'enabled' || thinking.type === 'adaptive'))
    fail('', 'Thinking may not be enabled when tool_choice forces tool use.');
}

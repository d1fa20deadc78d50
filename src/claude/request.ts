import type Anthropic from '@anthropic-ai/sdk';
import type { RequestContext } from '../store/context.js';
import { historyProblems, mergeTurns, trimPrefill } from './history.js';

/** The input schema every delegate agent is offered with. */
export const DELEGATE_INPUT_SCHEMA = {
  type: 'object',
  properties: { task: { type: 'string', description: 'The task to hand to this agent, with everything it needs to know.' } },
  required: ['task'],
} as const;

export type BuiltRequest =
  | { ok: true; params: Anthropic.MessageCreateParamsNonStreaming }
  | { ok: false; errorType: string; message: string };

/** Builds the Messages API request of one iteration, or says why it cannot be sent. */
export function buildRequest(ctx: RequestContext, defaults: { maxTokens: number }): BuiltRequest {
  if (ctx.missingTools.length > 0) {
    return {
      ok: false,
      errorType: 'tool_not_registered',
      message: `agent "${ctx.agent.name}" lists tool(s) ${ctx.missingTools.map((n) => `"${n}"`).join(', ')} that no agentpg instance has registered; register them with registerTool() on a worker`,
    };
  }
  const messages = trimPrefill(mergeTurns(ctx.history));
  const problems = historyProblems(messages);
  if (problems.length > 0) {
    return { ok: false, errorType: 'history_invalid', message: `the conversation cannot be sent to Claude: ${problems.join('; ')}` };
  }
  const system = ctx.overrideInstructions ?? [ctx.agent.systemPrompt, ctx.appendInstructions].filter((s) => s && s.length > 0).join('\n\n');
  const tools: Anthropic.Tool[] = [
    ...ctx.tools.map((d) => ({ name: d.name, description: d.description, input_schema: d.inputSchema as Anthropic.Tool.InputSchema })),
    ...ctx.delegates.map((d) => ({
      name: d.name,
      description: d.description || `Delegate a task to the ${d.name} agent and get its answer.`,
      input_schema: DELEGATE_INPUT_SCHEMA as unknown as Anthropic.Tool.InputSchema,
    })),
  ];
  const params: Anthropic.MessageCreateParamsNonStreaming = {
    model: ctx.agent.model,
    max_tokens: ctx.agent.maxTokens ?? defaults.maxTokens,
    messages: messages as Anthropic.MessageParam[],
  };
  if (system) params.system = system;
  if (tools.length > 0) params.tools = tools;
  return { ok: true, params };
}

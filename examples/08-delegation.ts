/**
 * Delegation and a multi-level hierarchy. An agent lists other agents in `agentIds`; each is offered to Claude
 * as a tool (its name, its description, a `task` input). Calling it starts a child run of that agent, whose
 * final answer becomes the tool result. Here: a project manager → two team leads → a developer each (3 levels),
 * with the leads working in parallel.
 *
 * Delegates are resolved from the parent's own agentIds (never by a global name lookup, never another tenant's
 * agent); cycles and hierarchies deeper than `maxDelegationDepth` end with a clear error result; the usage of
 * child runs rolls up into the parent's response.
 *
 *   npx tsx examples/08-delegation.ts
 */
import { z } from 'zod';
import { AgentPG, defineTool, type ToolExecution } from 'agentpg';
import { setup } from './_env.js';

const lint = defineTool({
  name: 'lint_code',
  description: 'Lint the frontend code and report problems',
  input: z.object({ path: z.string() }),
  execute: async ({ path }) => `lint ${path}: 0 problems`,
});
const runTests = defineTool({
  name: 'run_tests',
  description: 'Run the backend test suite',
  input: z.object({}),
  execute: async () => 'backend tests: 128 passed',
});

const env = await setup();
const client = new AgentPG(env.config);
try {
  client.registerTool(lint);
  client.registerTool(runTests);
  await client.start();

  // Create the specialists first: a parent references its delegates by id.
  const agent = (name: string, description: string, extra: { tools?: string[]; agentIds?: string[] }) =>
    client.getOrCreateAgent({ name, description, model: env.model, systemPrompt: `You are the ${description}.`, ...extra });
  const frontendDev = await agent('frontend-dev', 'frontend developer', { tools: ['lint_code'] });
  const backendDev = await agent('backend-dev', 'backend developer', { tools: ['run_tests'] });
  const frontendLead = await agent('frontend-lead', 'frontend team lead', { agentIds: [frontendDev.id] });
  const backendLead = await agent('backend-lead', 'backend team lead', { agentIds: [backendDev.id] });
  const manager = await agent('project-manager', 'project manager', { agentIds: [frontendLead.id, backendLead.id] });

  const sessionId = await client.newSession();
  const response = await client.runSync(
    sessionId,
    manager.id,
    'Ask frontend-lead and backend-lead to get the release ready: frontend-dev should lint the code in "web/", ' +
      'backend-dev should run the backend tests.',
  );
  console.log(`answer:\n${response.text}\n`);

  // The run tree, from the tool calls' childRunId links.
  const names = new Map([frontendDev, backendDev, frontendLead, backendLead, manager].map((a) => [a.id, a.name]));
  async function printTree(runId: string, indent: string): Promise<void> {
    const run = await client.getRun(runId);
    console.log(`${indent}${names.get(run.agentId)} (run ${run.id.slice(0, 8)}, depth ${run.depth}, ${run.state}, ${run.usage.inputTokens}+${run.usage.outputTokens} tokens)`);
    const calls: ToolExecution[] = await client.getRunTools(runId);
    for (const call of calls) {
      if (call.childRunId) await printTree(call.childRunId, `${indent}  `);
      else console.log(`${indent}  tool ${call.toolName} → ${JSON.stringify(call.output)}`);
    }
  }
  await printTree(response.runId, '');
  const own = (await client.getRun(response.runId)).usage;
  console.log(`\nusage with all delegated work: ${response.usage.inputTokens} in / ${response.usage.outputTokens} out (the manager's own: ${own.inputTokens} / ${own.outputTokens})`);
} finally {
  await client.stop();
  await env.close();
}

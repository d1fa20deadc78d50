/**
 * Run variables: pass context to tools through the run, not through the prompt. Variables are stored with the
 * run, reach every tool call (also in delegated child runs, and on whichever instance runs the tool) as
 * `ctx.variables`, and keep their JSON types: a number stays a number.
 *
 *   npx tsx examples/04-run-variables.ts
 */
import { z } from 'zod';
import { AgentPG, defineTool, discardTool } from 'agentpg';
import { setup } from './_env.js';

const chapters = new Map<string, string[]>([['story-123', ['Once upon a time...', 'The dragon woke up.']]]);

const continueStory = defineTool({
  name: 'continue_story',
  description: 'Continue the story with its next chapter',
  input: z.object({}),
  execute: async (_input, ctx) => {
    // Read variables with their types; check them like any other input.
    const storyId = ctx.variables.story_id;
    if (typeof storyId !== 'string') throw discardTool('story_id not provided');
    const maxChapters = typeof ctx.variables.max_chapters === 'number' ? ctx.variables.max_chapters : 10;
    const story = chapters.get(storyId) ?? [];
    if (story.length >= maxChapters) return `story ${storyId} already has its ${maxChapters} chapters`;
    story.push(`Chapter ${story.length + 1}, written for ${String(ctx.variables.user_id)}.`);
    chapters.set(storyId, story);
    // The full run context is there too.
    return `added chapter ${story.length} to ${storyId} (run ${ctx.runId.slice(0, 8)}, session ${ctx.sessionId.slice(0, 8)}, max ${maxChapters})`;
  },
});

const env = await setup();
const client = new AgentPG(env.config);
try {
  client.registerTool(continueStory);
  await client.start();
  const agent = await client.getOrCreateAgent({
    name: 'storyteller',
    model: env.model,
    systemPrompt: 'You write stories. Use continue_story to add chapters.',
    tools: ['continue_story'],
  });
  const sessionId = await client.newSession();

  const response = await client.runSync(sessionId, agent.id, 'Continue the story.', {
    variables: { story_id: 'story-123', user_id: 'user-456', tenant_id: 'tenant-1', max_chapters: 5 },
  });
  console.log(`tool said: ${JSON.stringify(response.toolCalls[0]?.output)}`);
  console.log(`answer: ${response.text}`);

  // Variables are kept on the run, with their types.
  const run = await client.getRun(response.runId);
  console.log(`run variables: ${JSON.stringify(run.variables)} (max_chapters is a ${typeof run.variables.max_chapters})`);

  // Without the variable the tool refuses, and Claude is told why.
  const missing = await client.runSync(sessionId, agent.id, 'Continue the story.');
  console.log(`without story_id: ${JSON.stringify(missing.toolCalls[0]?.output)}`);
  console.log(`story-123 now has ${chapters.get('story-123')!.length} chapters`);
} finally {
  await client.stop();
  await env.close();
}

/**
 * Fast mode with live events. runFast / runFastSync / runFastTx use the streaming Messages API instead of
 * Message Batches: full price, answers in seconds. Streaming runs execute concurrently up to
 * `maxConcurrentStreamingRuns` per instance.
 *
 * client.events(runId) follows a run live from any process (here: a second client that runs no workers):
 * state changes, model calls, text as it streams, tool calls, child runs, and finally `done`. Batch-mode runs
 * yield the same events at their own pace. Lifecycle hooks are the in-process counterpart: they are called on
 * the instance where each transition happens. cancelRun stops a run (and its children) from anywhere.
 *
 *   npx tsx examples/09-fast-mode-events.ts
 */
import { z } from 'zod';
import { AgentPG, RunCancelledError, defineTool } from 'agentpg';
import { setup } from './_env.js';

const getWeather = defineTool({
  name: 'get_weather',
  description: 'Get the current weather for a city',
  input: z.object({ city: z.string() }),
  execute: async ({ city }) => `Sunny and 21°C in ${city}`,
});
const slowSearch = defineTool({
  name: 'slow_search',
  description: 'Search the archive (slow)',
  input: z.object({ query: z.string() }),
  execute: async ({ query }, ctx) =>
    // Long-running tools should honour ctx.signal: it aborts on cancel, time-out and shutdown.
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => resolve(`found ${query}`), 30_000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });
    }),
});

const env = await setup();
const worker = new AgentPG({
  ...env.config,
  name: 'worker',
  maxConcurrentStreamingRuns: 10,
  hooks: {
    onToolStart: (e) => console.log(`  [hook on worker] tool ${e.toolName} started (attempt ${e.attempt})`),
    onToolEnd: (e) => console.log(`  [hook on worker] tool ${e.toolName} ended: ${e.state} in ${e.durationMs} ms`),
  },
});
// Another client, as in another process: it only reads and follows.
const observer = new AgentPG(env.config);
try {
  worker.registerTool(getWeather);
  worker.registerTool(slowSearch);
  await worker.start();
  const agent = await worker.getOrCreateAgent({
    name: 'fast-assistant',
    model: env.model,
    systemPrompt: 'You are a quick assistant.',
    tools: ['get_weather', 'slow_search'],
  });
  const sessionId = await worker.newSession();

  // 1. Start a fast run and follow it live from the observer.
  const runId = await worker.runFast(sessionId, agent.id, "What's the weather in Lisbon?");
  for await (const e of observer.events(runId)) {
    switch (e.type) {
      case 'run_state':
        console.log(`state: ${e.state}`);
        break;
      case 'iteration_start':
        console.log(`model call ${e.iteration} (${e.mode})`);
        break;
      case 'text_delta':
        process.stdout.write(`  text: ${JSON.stringify(e.text)}\n`);
        break;
      case 'tool_start':
        console.log(`tool ${e.name}(${JSON.stringify(e.input)}) started`);
        break;
      case 'tool_end':
        console.log(`tool ${e.name} → ${JSON.stringify(e.output)} (${e.state})`);
        break;
      case 'iteration_end':
        console.log(`model call ${e.iteration} ended: ${e.stopReason}`);
        break;
      case 'child_run':
        console.log(`delegated to child run ${e.childRunId}`);
        break;
      case 'done':
        console.log(`done: ${e.state}: ${e.response?.text ?? e.error?.message}`);
        break;
    }
  }

  // 2. runFastSync: start and wait, like runSync.
  const quick = await worker.runFastSync(sessionId, agent.id, 'What is 12*12?');
  console.log(`runFastSync: ${quick.text}`);

  // 3. Cancel a run while its tool is running: the tool's signal aborts, the waiter gets RunCancelledError.
  const slowId = await worker.runFast(sessionId, agent.id, 'Search the archive for "old invoices".');
  for await (const e of observer.events(slowId)) {
    if (e.type === 'tool_start') {
      const cancelled = await observer.cancelRun(slowId, 'the user changed their mind');
      console.log(`cancelled ${cancelled.length} run(s)`);
    }
    if (e.type === 'done') console.log(`slow run: ${e.state}`);
  }
  await worker.waitForRun(slowId).catch((err: unknown) => {
    if (err instanceof RunCancelledError) console.log(`waitForRun: ${err.message}`);
    else throw err;
  });
} finally {
  await worker.stop();
  await observer.stop();
  await env.close();
}

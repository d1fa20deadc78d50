/**
 * Simple chat: a client, an agent (a database row), a session (a conversation), and runs.
 *
 *   npx tsx examples/01-simple-chat.ts
 */
import { AgentPG } from 'agentpg';
import { setup } from './_env.js';

const env = await setup();
const client = new AgentPG({ ...env.config, name: 'chat-worker' });
try {
  // 1. Start the client first: it registers this instance and starts its workers.
  await client.start();

  // 2. Agents are rows with UUIDs. getOrCreateAgent is atomic and safe to call on every start.
  const agent = await client.getOrCreateAgent({
    name: 'assistant',
    description: 'A helpful general-purpose assistant',
    model: env.model,
    systemPrompt: 'You are a helpful assistant. Answer in one short sentence.',
  });
  console.log(`agent ${agent.name} = ${agent.id}`);

  // 3. A session is a conversation; every run in it sees the earlier turns.
  const sessionId = await client.newSession({ metadata: { user_id: 'user-123' } });

  // 4. runSync = run (batch mode, half price) + waitForRun. Always pass the agent's UUID, never its name.
  const first = await client.runSync(sessionId, agent.id, 'What is 2+2?');
  console.log(`> What is 2+2?\n${first.text}`);

  const second = await client.runSync(sessionId, agent.id, 'And what is 6*7?');
  console.log(`> And what is 6*7?\n${second.text}`);
  console.log(`tokens: ${second.usage.inputTokens} in, ${second.usage.outputTokens} out, ${second.iterationCount} model call(s)`);

  // 5. Asynchronous: start a run, do other work, wait for it later (from this or any other process).
  const runId = await client.run(sessionId, agent.id, 'Say hello.');
  const run = await client.getRun(runId);
  console.log(`run ${runId} is ${run.state}`);
  const third = await client.waitForRun(runId, { timeoutMs: 10 * 60_000 });
  console.log(`> Say hello.\n${third.text}`);

  // The whole conversation is in PostgreSQL.
  const messages = await client.getSessionMessages(sessionId);
  console.log(`the session holds ${messages.length} messages`);
} finally {
  await client.stop();
  await env.close();
}

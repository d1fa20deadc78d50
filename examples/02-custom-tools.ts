/**
 * Custom tools: one defined with a zod schema (typed input), one with a plain JSON Schema that reads your own
 * database table. Claude may call several tools in one turn; agentpg runs them in parallel and answers every
 * call in one message.
 *
 *   npx tsx examples/02-custom-tools.ts
 */
import pg from 'pg';
import { z } from 'zod';
import { AgentPG, defineTool } from 'agentpg';
import { setup } from './_env.js';

/** A tool with a zod schema: the JSON Schema sent to Claude is generated, and `city` is typed. */
const getWeather = defineTool({
  name: 'get_weather',
  description: 'Get the current weather for a city',
  input: z.object({ city: z.string().describe('City name, e.g. Paris') }),
  execute: async ({ city }) => `Sunny and 21°C in ${city}`,
});

/** A tool with a JSON Schema, backed by an application table: code lives in your process, with your pool. */
function lookupUser(pool: pg.Pool) {
  return defineTool<{ user_id: number }>({
    name: 'lookup_user',
    description: 'Look up user information by numeric user ID',
    input: {
      type: 'object',
      properties: { user_id: { type: 'integer', description: "The user's numeric ID" } },
      required: ['user_id'],
      additionalProperties: false,
    },
    // Inputs are validated against the schema before execute is called; a bad one goes back to Claude as an error.
    execute: async ({ user_id }, ctx) => {
      const { rows } = await pool.query('SELECT name, email FROM example_app.users WHERE id = $1', [user_id]);
      if (rows.length === 0) throw new Error(`user ${user_id} not found`);
      // Any JSON value can be returned; objects reach Claude as JSON text.
      return { ...rows[0], looked_up_in_run: ctx.runId };
    },
    maxAttempts: 1, // "not found" will not change on a retry
  });
}

const env = await setup();
await env.pool.query(`
  DROP SCHEMA IF EXISTS example_app CASCADE;
  CREATE SCHEMA example_app;
  CREATE TABLE example_app.users (id integer PRIMARY KEY, name text NOT NULL, email text NOT NULL);
  INSERT INTO example_app.users VALUES (42, 'Ada Lovelace', 'ada@example.com');
`);

const client = new AgentPG({ ...env.config, name: 'tools-worker' });
try {
  // Register tools BEFORE start(): the instance announces which tools it can run.
  client.registerTool(getWeather);
  client.registerTool(lookupUser(env.pool));
  await client.start();

  // An agent may use only the tools listed here (and registered on some running instance).
  const agent = await client.getOrCreateAgent({
    name: 'concierge',
    model: env.model,
    systemPrompt: 'You are a concierge. Use your tools; answer briefly.',
    tools: ['get_weather', 'lookup_user'],
  });

  const sessionId = await client.newSession();
  const response = await client.runSync(sessionId, agent.id, 'Look up user 42 and tell me the weather in Paris.');

  for (const call of response.toolCalls) {
    console.log(`tool ${call.name}(${JSON.stringify(call.input)}) → ${JSON.stringify(call.output)} [${call.state}, iteration ${call.iteration}]`);
  }
  console.log(`answer: ${response.text}`);
  console.log(`${response.iterationCount} model calls, ${response.toolCalls.length} tool calls`);
} finally {
  await client.stop();
  await env.pool.query('DROP SCHEMA IF EXISTS example_app CASCADE');
  await env.close();
}

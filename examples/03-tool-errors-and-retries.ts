/**
 * Tool errors and retries. What a tool throws decides what happens next:
 *
 * - any error           → retried with exponential backoff until the tool's attempts are used up, then
 *                         Claude receives an error tool_result (is_error: true) and carries on;
 * - discardTool(msg)    → no retry: Claude receives `msg` as an error result (e.g. input that can never work);
 * - cancelTool(msg)     → no retry: Claude is told the call was cancelled;
 * - snoozeTool(ms)      → try again after `ms` without using up an attempt (e.g. a resource is not ready yet).
 *
 * A thrown exception or a rejected promise never takes the worker process down.
 *
 *   npx tsx examples/03-tool-errors-and-retries.ts
 */
import { z } from 'zod';
import { AgentPG, cancelTool, defineTool, discardTool, snoozeTool } from 'agentpg';
import { setup } from './_env.js';

// Fails twice (think: an upstream timeout), succeeds on the third attempt.
const stockPrice = defineTool({
  name: 'fetch_stock_price',
  description: 'Fetch the latest stock price of a ticker symbol',
  input: z.object({ ticker: z.string() }),
  maxAttempts: 3,
  execute: async ({ ticker }, ctx) => {
    if (ctx.attempt < 3) throw new Error(`upstream timeout (attempt ${ctx.attempt})`);
    return `${ticker}: $123.45`;
  },
});

// Always fails: after its attempts are used up, Claude gets the last error as an error result and the run goes on.
const checkInventory = defineTool({
  name: 'check_inventory',
  description: 'Check the warehouse inventory of a product',
  input: z.object({ product: z.string() }),
  execute: async () => {
    throw new Error('the warehouse database is down');
  },
});

// Some inputs can never succeed: say so at once instead of retrying.
const bookFlight = defineTool({
  name: 'book_flight',
  description: 'Book a flight to a destination city',
  input: z.object({ destination: z.string() }),
  execute: async ({ destination }) => {
    if (!['Paris', 'Tokyo', 'Lima'].includes(destination)) throw discardTool(`there are no flights to ${destination}`);
    return `booked a flight to ${destination}`;
  },
});

// Not ready on the first try: come back later, without spending an attempt. The execution id is stable across
// retries and snoozes, which makes it a good idempotency key.
const readyAt = new Map<string, number>();
const generateReport = defineTool({
  name: 'generate_report',
  description: 'Generate the quarterly sales report',
  input: z.object({ quarter: z.string() }),
  execute: async ({ quarter }, ctx) => {
    const ready = readyAt.get(ctx.executionId);
    if (ready === undefined) readyAt.set(ctx.executionId, Date.now() + 300);
    if (ready === undefined || Date.now() < ready) throw snoozeTool(300, 'the report is still being computed');
    return `report for ${quarter}: revenue up 12%`;
  },
});

// Some calls must not happen without a human: cancel them.
const deleteAccount = defineTool({
  name: 'delete_account',
  description: 'Delete the account of a customer',
  input: z.object({ customer: z.string() }),
  execute: async ({ customer }) => {
    throw cancelTool(`deleting ${customer}'s account needs a human approval`);
  },
});

const env = await setup();
const client = new AgentPG({
  ...env.config,
  // The retry policy for tools without their own maxAttempts, and the backoff for all of them.
  toolRetry: { maxAttempts: 3, initialDelayMs: 100, maxDelayMs: 2000, jitter: 0.2 },
});
try {
  for (const tool of [stockPrice, checkInventory, bookFlight, generateReport, deleteAccount]) client.registerTool(tool);
  await client.start();
  const agent = await client.getOrCreateAgent({
    name: 'operator',
    model: env.model,
    systemPrompt: 'You are an operations assistant. Use the tools; if a tool fails, explain what happened.',
    tools: ['fetch_stock_price', 'check_inventory', 'book_flight', 'generate_report', 'delete_account'],
  });

  const prompts = [
    'Fetch the stock price of ACME.',
    'Check the warehouse inventory of Widgets.',
    'Book a flight to Atlantis.',
    'Generate the sales report for quarter Q3.',
    'Delete the account of customer Bob.',
  ];
  // Five runs at once: in batch mode their model calls travel together in one Message Batch.
  const responses = await Promise.all(
    prompts.map(async (prompt) => client.runSync(await client.newSession(), agent.id, prompt)),
  );
  responses.forEach((r, i) => {
    console.log(`> ${prompts[i]}`);
    for (const c of r.toolCalls) {
      console.log(`  ${c.name}: ${c.state}${c.isError ? ' (error result)' : ''}, ${c.attempts} attempt(s), output ${JSON.stringify(c.output)}`);
    }
    console.log(`  answer: ${r.text.replace(/\n/g, ' ')}`);
  });
} finally {
  await client.stop();
  await env.close();
}

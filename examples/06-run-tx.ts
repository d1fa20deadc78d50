/**
 * runTx: start a run inside your own transaction, atomically with your application's writes (an outbox
 * without the outbox). Workers see the run only when you commit; if you roll back, it never existed.
 * newSessionTx works the same way. The `...Tx` methods take the driver's own transaction object: a
 * `pg.PoolClient` inside BEGIN for the pg driver.
 *
 *   npx tsx examples/06-run-tx.ts
 */
import { z } from 'zod';
import { AgentPG, NotFoundError, defineTool } from 'agentpg';
import { setup } from './_env.js';

const env = await setup();
await env.pool.query(`
  DROP SCHEMA IF EXISTS example_app CASCADE;
  CREATE SCHEMA example_app;
  CREATE TABLE example_app.orders (id text PRIMARY KEY, item text NOT NULL, status text NOT NULL DEFAULT 'new');
`);

// The tool reads and updates the application's table; the order id comes from the run's variables.
const confirmOrder = defineTool({
  name: 'confirm_order',
  description: 'Confirm an order so it ships',
  input: z.object({}),
  execute: async (_input, ctx) => {
    const { rows } = await env.pool.query(
      `UPDATE example_app.orders SET status = 'confirmed' WHERE id = $1 RETURNING item`,
      [ctx.variables.order_id],
    );
    return rows[0] ? `order ${String(ctx.variables.order_id)} (${rows[0].item}) confirmed` : 'no such order';
  },
});

const client = new AgentPG(env.config);
try {
  client.registerTool(confirmOrder);
  await client.start();
  const agent = await client.getOrCreateAgent({
    name: 'order-desk',
    model: env.model,
    systemPrompt: 'You handle orders. Confirm orders with confirm_order.',
    tools: ['confirm_order'],
  });

  // 1. Committed: the order row, the session and the run appear together.
  const tx = await env.pool.connect();
  let runId: string;
  try {
    await tx.query('BEGIN');
    await tx.query('INSERT INTO example_app.orders (id, item) VALUES ($1, $2)', ['ord-123', 'a blue teapot']);
    const sessionId = await client.newSessionTx(tx, { metadata: { order_id: 'ord-123' } });
    runId = await client.runTx(tx, sessionId, agent.id, 'Confirm the order, please.', { variables: { order_id: 'ord-123' } });
    await tx.query('COMMIT');
  } catch (err) {
    await tx.query('ROLLBACK');
    throw err;
  } finally {
    tx.release();
  }
  // There is no runSyncTx on purpose: the run is invisible until the commit, so wait after it.
  const response = await client.waitForRun(runId);
  console.log(`committed: ${response.text}`);
  const { rows } = await env.pool.query(`SELECT status FROM example_app.orders WHERE id = 'ord-123'`);
  console.log(`order ord-123 is now ${rows[0].status}`);

  // 2. Rolled back: neither the order nor the run exists.
  const tx2 = await env.pool.connect();
  let rolledBackRunId: string;
  try {
    await tx2.query('BEGIN');
    await tx2.query('INSERT INTO example_app.orders (id, item) VALUES ($1, $2)', ['ord-124', 'a red kettle']);
    const sessionId = await client.newSessionTx(tx2);
    rolledBackRunId = await client.runTx(tx2, sessionId, agent.id, 'Confirm the order, please.', { variables: { order_id: 'ord-124' } });
    // Say the payment fails here:
    await tx2.query('ROLLBACK');
  } finally {
    tx2.release();
  }
  await client.getRun(rolledBackRunId).catch((err: unknown) => {
    if (err instanceof NotFoundError) console.log(`rolled back: run ${rolledBackRunId.slice(0, 8)} never existed (${err.code})`);
    else throw err;
  });
} finally {
  await client.stop();
  await env.pool.query('DROP SCHEMA IF EXISTS example_app CASCADE');
  await env.close();
}

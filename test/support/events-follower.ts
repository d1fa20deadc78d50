/** Follows one run's events from a separate process (no worker): prints one JSON event per line, then exits. */
import pg from 'pg';
import { AgentPG } from '../../src/client.js';
import { pgDriver } from '../../src/db/drivers/pg.js';

const pool = new pg.Pool({ connectionString: process.env.AGENTPG_TEST_DB!, max: 3 });
const client = new AgentPG({ driver: pgDriver(pool), runPollIntervalMs: 200 });
process.stdout.write('READY follower\n');
for await (const e of client.events(process.env.AGENTPG_RUN_ID!)) {
  process.stdout.write(`${JSON.stringify(e.type === 'done' ? { type: e.type, state: e.state, text: e.response?.text } : e)}\n`);
}
await pool.end();
process.exit(0);

/** Starts an embedded server as whatever user runs this, queries it, stops it: prints OK <version>. */
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/devdb/embedded.js';

const server = await startEmbeddedPostgres();
const c = new pg.Client({ connectionString: server.url });
await c.connect();
const { rows } = await c.query('SELECT current_setting($1) AS v', ['server_version']);
await c.end();
await server.stop();
process.stdout.write(`OK ${rows[0].v}\n`);

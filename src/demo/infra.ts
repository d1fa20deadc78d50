import { rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import type pg from 'pg';
import type { Emulator } from '../emulator/index.js';
import type { EmbeddedPostgres } from '../devdb/embedded.js';
import { quoteIdent } from '../db/identifiers.js';

/** Where the demo's data and model calls go, and how to put everything away again. */
export interface DemoInfra {
  databaseUrl: string;
  /** A line describing the database, for the output. */
  databaseLabel: string;
  /** Data directory of the embedded server (removed by `close`), null with DATABASE_URL. */
  embeddedDataDir: string | null;
  claude: { baseURL?: string; apiKey: string; label: string; real: boolean };
  emulator: Emulator | null;
  /** Stops what was started, in reverse order. Safe to call twice. */
  close(): Promise<string[]>;
}

export interface InfraOptions {
  databaseUrl?: string;
  apiKey?: string;
  /** How long the emulator keeps a batch in progress: long enough to be seen, short enough to be quick. */
  batchLatencyMs: number;
  /** Pause between streamed events, so streaming can be watched. */
  streamEventDelayMs: number;
  log: (line: string) => void;
}

/**
 * Starts an embedded PostgreSQL unless a database URL is given, and the Claude emulator unless an API key is.
 * Every started piece is registered for `close()` right away, so a failure half-way still cleans up.
 */
export async function startInfra(o: InfraOptions): Promise<DemoInfra> {
  const closers: { what: string; close: () => Promise<void> }[] = [];
  let closed = false;
  const close = async (): Promise<string[]> => {
    if (closed) return [];
    closed = true;
    const done: string[] = [];
    for (const c of closers.reverse()) {
      await c.close().catch(() => {});
      done.push(c.what);
    }
    return done;
  };
  try {
    let databaseUrl = o.databaseUrl;
    let databaseLabel: string;
    let embeddedDataDir: string | null = null;
    if (databaseUrl) {
      databaseLabel = `PostgreSQL at ${redact(databaseUrl)} (DATABASE_URL)`;
    } else {
      o.log('starting an embedded PostgreSQL server (set DATABASE_URL to use your own)...');
      const started = Date.now();
      const { startEmbeddedPostgres } = await import('../devdb/embedded.js');
      const server: EmbeddedPostgres = await startEmbeddedPostgres();
      const root = server.dataDir.replace(/\/data$/, '');
      closers.push({
        what: `embedded PostgreSQL stopped, ${root} removed`,
        close: async () => {
          await server.stop();
          if (existsSync(root)) await rm(root, { recursive: true, force: true });
        },
      });
      databaseUrl = server.url;
      embeddedDataDir = root;
      databaseLabel = `embedded PostgreSQL on 127.0.0.1:${server.port}, ready in ${((Date.now() - started) / 1000).toFixed(1)}s (temporary, in ${root})`;
    }

    let emulator: Emulator | null = null;
    let claude: DemoInfra['claude'];
    if (o.apiKey) {
      claude = { apiKey: o.apiKey, label: 'the Claude API (ANTHROPIC_API_KEY is set)', real: true };
    } else {
      const { startEmulator } = await import('../emulator/index.js');
      emulator = await startEmulator({ batchLatencyMs: o.batchLatencyMs, stream: { eventDelayMs: o.streamEventDelayMs } });
      const emu = emulator;
      closers.push({ what: 'Claude emulator stopped', close: () => emu.close() });
      claude = {
        apiKey: 'demo',
        baseURL: emu.url,
        label: `the offline Claude emulator at ${emu.url} (set ANTHROPIC_API_KEY to use Claude)`,
        real: false,
      };
    }
    return { databaseUrl, databaseLabel, embeddedDataDir, claude, emulator, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Drops the demo schema (so reruns start clean); it is recreated by migrate(). */
export async function resetSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(DATABASE_URL)';
  }
}

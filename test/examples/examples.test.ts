import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = readdirSync(new URL('../../examples/', import.meta.url)).filter((f) => /^\d\d-.+\.ts$/.test(f)).sort();

/** What each example must print: it ran end to end and showed its feature. */
const EXPECTED: Record<string, RegExp[]> = {
  '01-simple-chat.ts': [/^> What is 2\+2\?\n4$/m, /^> And what is 6\*7\?\n42$/m, /the session holds 6 messages/],
  '02-custom-tools.ts': [/tool get_weather\(\{"city":"Paris"\}\) → "Sunny and 21°C in Paris"/, /tool lookup_user\(\{"user_id":42\}\) → .*Ada Lovelace/, /2 model calls, 2 tool calls/],
  '03-tool-errors-and-retries.ts': [
    /fetch_stock_price: completed, 3 attempt\(s\)/,
    /check_inventory: failed \(error result\), 3 attempt\(s\)/,
    /book_flight: discarded \(error result\), 1 attempt\(s\)/,
    /generate_report: completed, 1 attempt\(s\)/,
    /delete_account: cancelled \(error result\)/,
  ],
  '04-run-variables.ts': [/added chapter 3 to story-123 .*max 5\)/, /max_chapters is a number/, /without story_id: "Error: story_id not provided"/],
  '05-multi-tenancy.ts': [/tenant-1: agent \w+ → Grace Hopper/, /tenant-2: agent \w+ → Alan Turing/, /tenant-1 has 1 session\(s\); agents of all tenants: 2/],
  '06-run-tx.ts': [/committed: .*ord-123 \(a blue teapot\) confirmed/, /order ord-123 is now confirmed/, /rolled back: run \w+ never existed \(not_found\)/],
  '07-several-workers.ts': [/started 2 worker processes/, /tool calls per worker: (worker-a \d, worker-b \d|worker-b \d, worker-a \d)/, /16 model calls went to Claude in \d+ Message Batches/],
  '08-delegation.ts': [
    /^project-manager \(run \w+, depth 0, completed/m,
    /^ {2}frontend-lead \(run \w+, depth 1, completed/m,
    /^ {4}frontend-dev \(run \w+, depth 2, completed/m,
    /^ {6}tool run_tests → "backend tests: 128 passed"/m,
    /usage with all delegated work/,
  ],
  '09-fast-mode-events.ts': [/model call 1 \(streaming\)/, /\[hook on worker\] tool get_weather started/, /text: "get_weather returned: Sunny/, /done: completed/, /runFastSync: 144/, /slow run: cancelled/],
};

interface Result {
  code: number | null;
  out: string;
  ms: number;
}

function runExample(file: string, databaseUrl: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl };
  delete env.ANTHROPIC_API_KEY; // always the emulator here
  delete env.ANTHROPIC_BASE_URL;
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${file}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} did not finish within 60 s:\n${out}`));
    }, 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

describe('examples/ run against the emulator and exit 0', () => {
  it('has an expectation for every example', () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(9);
    expect(EXAMPLES.filter((f) => !EXPECTED[f])).toEqual([]);
  });

  // Two at a time: each runs in its own fresh database of the suite's server.
  const pairs: string[][] = [];
  for (let i = 0; i < EXAMPLES.length; i += 2) pairs.push(EXAMPLES.slice(i, i + 2));
  for (const pair of pairs) {
    it(pair.join(' + '), { timeout: 120_000 }, async () => {
      const results = await Promise.all(
        pair.map(async (file) => {
          const db = await createTestDatabase('ex');
          try {
            return { file, ...(await runExample(file, db.url)) };
          } finally {
            await db.drop();
          }
        }),
      );
      for (const r of results) {
        expect(r.code, `${r.file} exited with ${r.code}:\n${r.out}`).toBe(0);
        for (const pattern of EXPECTED[r.file] ?? []) expect(r.out, `${r.file} output`).toMatch(pattern);
      }
    });
  }
});

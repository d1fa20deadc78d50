import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { cli, hasStackTrace } from './helpers.js';

/** The lines of the live log written by one worker. */
const linesOf = (out: string, worker: string) => out.split('\n').filter((l) => new RegExp(`^\\s+\\d+\\.\\ds\\s+${worker}\\s`).test(l));

describe('agentpg demo', () => {
  it('runs end to end as a new user would: no DATABASE_URL, no API key, under a minute, nothing left behind', { timeout: 90_000 }, async () => {
    const started = Date.now();
    const r = await cli(['demo'], {}, 80_000);
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`).toBe(0);
    // The one-minute promise is measured (the demo prints "Done in"), not asserted: a busy CI machine
    // would make it flaky. The test's own time-out bounds it.
    console.log(`[demo] finished in ${seconds.toFixed(1)}s (${/Done in ([\d.]+s)/.exec(r.stdout)?.[1] ?? '?'} inside the demo)`);
    expect(r.stderr).toBe('');
    const out = r.stdout;

    // Infrastructure it started by itself.
    expect(out).toMatch(/database {2}embedded PostgreSQL on 127\.0\.0\.1:\d+/);
    expect(out).toMatch(/Claude {4}the offline Claude emulator at http:\/\/127\.0\.0\.1:\d+/);
    expect(out).toMatch(/worker {4}worker-a started/);
    expect(out).toMatch(/worker {4}worker-b started/);

    // Batching: iterations of several runs in one Message Batch.
    const sizes = [...out.matchAll(/submitted Message Batch msgbatch_\w+ with (\d+) requests?/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(2);
    expect(out).toMatch(/fetched a finished batch: \d+ results? applied/);

    // Tools, on both instances; search_flights only where it is registered.
    const a = linesOf(out, 'worker-a');
    const b = linesOf(out, 'worker-b');
    expect(a.some((l) => / ran (get_weather|convert_currency) /.test(l))).toBe(true);
    expect(b.some((l) => / ran (get_weather|convert_currency|search_flights) /.test(l))).toBe(true);
    expect(a.some((l) => / ran search_flights /.test(l))).toBe(false);
    expect(b.some((l) => / ran search_flights /.test(l))).toBe(true);

    // Delegation, in batch and in fast mode.
    expect(out).toMatch(/#6\.\d weather-expert: child run started \(delegated by #6\)/);
    expect(out).toMatch(/#8\.\d flight-expert: child run started \(delegated by #8\)/);

    // Live states, streaming, and every run answered.
    expect(out).toMatch(/states: .*batch_pending/);
    expect(out).toMatch(/streams model call 1 of #7 \(Messages API, streaming\)/);
    expect(out).toMatch(/#8 streamed text: /);
    for (const label of ['#1', '#2', '#3', '#4', '#5', '#6', '#7', '#8']) expect(out).toContain(`${label} completed`);
    expect(out).toMatch(/#4 {2}assistant \(batch\): "What is 17\*23\?"\n {6}→ 391/);
    expect(out).toMatch(/#6 {2}travel-planner \(batch\): .*\n {6}→ .*Rome.*EUR.*flights to Rome/);

    // The report: who did what, tokens, cost at batch vs standard prices.
    expect(out).toMatch(/worker-a: submitted \d+ batch(es)?/);
    expect(out).toMatch(/worker-b: submitted \d+ batch(es)?/);
    expect(out).toMatch(/14 runs \(6 of them delegated child runs\)/);
    const batchLine = /batch mode +\d+ model calls +[\d,]+ in +[\d,]+ out +\$([\d.]+) at batch prices \(\$([\d.]+) at standard prices\)/.exec(out);
    expect(batchLine).not.toBeNull();
    expect(Number(batchLine![1])).toBeCloseTo(Number(batchLine![2]) / 2, 5);
    expect(out).toMatch(/fast mode +\d+ model calls .* at standard prices/);

    // Clean exit: everything it started is gone.
    expect(out).toContain('worker-a and worker-b stopped');
    expect(out).toContain('Claude emulator stopped');
    const dir = /embedded PostgreSQL stopped, (\S+) removed/.exec(out)?.[1];
    expect(dir).toBeTruthy();
    expect(existsSync(dir!)).toBe(false);
  });

  describe('with DATABASE_URL', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('demo');
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('uses that server, can run twice, and leaves its runs for `agentpg runs`', { timeout: 120_000 }, async () => {
      const env = { DATABASE_URL: db.url };
      const first = await cli(['demo', '--schema', 'demo_s'], env, 80_000);
      expect(first.code, first.stdout + first.stderr).toBe(0);
      const second = await cli(['demo', '--schema', 'demo_s'], env, 80_000); // the schema is dropped and recreated
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stdout).toMatch(/database {2}PostgreSQL at postgres:\/\/.* \(DATABASE_URL\)/);
      expect(second.stdout).not.toContain('embedded PostgreSQL');
      expect(second.stdout).toContain('npx agentpg runs --schema demo_s');

      const runs = await cli(['runs', '--schema', 'demo_s', '--json', '--limit', '100'], env);
      const page = JSON.parse(runs.stdout) as { total: number; items: { state: string; mode: string }[] };
      expect(page.total).toBe(14);
      expect(page.items.every((r) => r.state === 'completed')).toBe(true);
      expect(new Set(page.items.map((r) => r.mode))).toEqual(new Set(['batch', 'streaming']));
    });

    it('reports a bad database in one line', async () => {
      const r = await cli(['demo', '--database-url', 'postgres://postgres:postgres@127.0.0.1:1/postgres']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^agentpg: /);
      expect(hasStackTrace(r.stderr)).toBe(false);
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../src/tools/define.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../support/db.js';
import { engineEnv, type EngineEnv } from '../support/engine.js';
import { cli, hasStackTrace } from './helpers.js';

describe('agentpg CLI: help', () => {
  // Spawning a process per CLI call is slow on a busy machine: the multi-spawn tests get room.
  it('documents every command, and each one has --help', { timeout: 60_000 }, async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const name of ['migrate', 'runs', 'run', 'demo', 'emulator']) expect(top.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));

    const commands = [['migrate'], ['migrate', 'up'], ['migrate', 'down'], ['migrate', 'status'], ['runs'], ['run'], ['demo'], ['emulator']];
    const results = await Promise.all(commands.map((c) => cli([...c, '--help'])));
    results.forEach((r, i) => {
      expect(r.code, `${commands[i]!.join(' ')} --help`).toBe(0);
      expect(r.stdout).toContain(`Usage: agentpg ${commands[i]!.join(' ')}`);
    });
    const [, up, down, status, runs, run] = results;
    for (const r of [up, down, status, runs, run]) {
      expect(r!.stdout).toContain('--database-url');
      expect(r!.stdout).toContain('--schema');
    }
    expect(down!.stdout).toContain('--steps');
    expect(down!.stdout).toContain('--to');
    expect(runs!.stdout).toMatch(/--session[\s\S]*--agent[\s\S]*--state[\s\S]*--limit[\s\S]*--json/);
  });

  it('rejects an unknown command and a bad option value with exit code 1', async () => {
    const unknown = await cli(['bogus']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("unknown command 'bogus'");
    const bad = await cli(['runs', '--limit', 'abc', '--database-url', serverUrl()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--limit must be a positive integer');
  });
});

describe('agentpg CLI: connection errors are one clear line', () => {
  it('no database given', async () => {
    const r = await cli(['migrate', 'status']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('agentpg: no database given: pass --database-url postgres://user:password@host:5432/db or set DATABASE_URL');
  });

  it('a URL that is not a PostgreSQL URL', async () => {
    const [garbage, mysql] = await Promise.all([cli(['runs'], { DATABASE_URL: 'not a url' }), cli(['runs'], { DATABASE_URL: 'mysql://u@h/db' })]);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('the database URL is not a URL');
    expect(mysql.code).toBe(1);
    expect(mysql.stderr).toContain('must start with postgres:// or postgresql://');
  });

  it('a server that refuses, a wrong password, a missing database: no stack trace, password masked', async () => {
    const good = new URL(serverUrl());
    const refused = new URL(good);
    refused.port = '1';
    const wrongPassword = new URL(good);
    wrongPassword.password = 'definitely-wrong';
    const noDb = new URL(good);
    noDb.pathname = '/agentpg_no_such_database';
    const runs = await Promise.all([
      cli(['migrate', 'status'], { DATABASE_URL: refused.toString() }),
      cli(['migrate', 'up', '--database-url', wrongPassword.toString()]),
      cli(['runs'], { DATABASE_URL: noDb.toString() }),
    ]);
    for (const r of runs) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^agentpg: cannot connect to PostgreSQL at postgres:\/\//);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(hasStackTrace(r.stderr)).toBe(false);
    }
    expect(runs[0]!.stderr).toContain('connection refused');
    expect(runs[1]!.stderr).not.toContain('definitely-wrong');
    // Servers with trust authentication accept any password; only assert the message when it was refused.
    if (good.password) expect(runs[1]!.stderr).toContain('***');
    expect(runs[2]!.stderr).toContain('agentpg_no_such_database');
  });

  it('an invalid schema name', async () => {
    const r = await cli(['migrate', 'status', '--schema', 'Bad-Name', '--database-url', serverUrl()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--schema: schema must be a lower-case SQL identifier');
  });
});

describe('agentpg migrate', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('cli');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('status, up (default), down --steps, down --to, in a custom schema', { timeout: 60_000 }, async () => {
    const env = { DATABASE_URL: db.url };
    const before = await cli(['migrate', 'status', '--schema', 'cli_s'], env);
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/VERSION\s+NAME\s+STATUS/);
    expect(before.stdout).toMatch(/^001\s+initial\s+pending/m);
    expect(before.stdout).toMatch(/\d+ pending: run `agentpg migrate up`/);

    const up = await cli(['migrate', '--schema', 'cli_s'], env); // `up` is the default subcommand
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('Applied 001_initial');
    const latest = Number(/is at version (\d+)/.exec(up.stdout)![1]);
    expect(latest).toBeGreaterThanOrEqual(1);

    const again = await cli(['migrate', 'up', '--schema', 'cli_s'], env);
    expect(again.stdout).toContain(`Nothing to apply: schema "cli_s" is at version ${latest}.`);

    const status = await cli(['migrate', 'status', '--schema', 'cli_s', '--json'], env);
    const parsed = JSON.parse(status.stdout) as { schema: string; migrations: { version: number; applied: boolean }[] };
    expect(parsed.schema).toBe('cli_s');
    expect(parsed.migrations.every((m) => m.applied)).toBe(true);

    const down = await cli(['migrate', 'down', '--steps', '1', '--schema', 'cli_s'], env);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(new RegExp(`Reverted 0*${latest}_`));
    expect(down.stdout).toContain(`is at version ${latest - 1}.`);

    const both = await cli(['migrate', 'down', '--steps', '1', '--to', '0', '--schema', 'cli_s'], env);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('use either --steps or --to, not both');

    const all = await cli(['migrate', 'down', '--to', '0', '--schema', 'cli_s'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('Reverted 001_initial');
    expect(all.stdout).toContain('is at version 0.');

    // The default schema was never touched.
    const other = await cli(['migrate', 'status', '--json'], env);
    expect((JSON.parse(other.stdout) as { migrations: { applied: boolean }[] }).migrations.some((m) => m.applied)).toBe(false);
  });
});

describe('agentpg runs / run', () => {
  let env: EngineEnv;
  let completedId: string;
  let failedId: string;
  let sessionId: string;

  beforeAll(async () => {
    env = await engineEnv();
    let calls = 0;
    const client = env.client();
    client.registerTool(
      defineTool({
        name: 'get_weather',
        description: 'Get the current weather for a city',
        input: z.object({ city: z.string() }),
        execute: ({ city }) => {
          if (calls++ === 0) throw new Error('weather service hiccup');
          return `Sunny in ${city}`;
        },
      }),
    );
    await client.start();
    const agent = await client.createAgent({ name: 'weather', model: 'claude-haiku-5-5', tools: ['get_weather'] });
    const orphan = await client.createAgent({ name: 'orphan', model: 'claude-haiku-5-5', tools: ['not_registered_anywhere'] });
    sessionId = await client.newSession();
    completedId = (await client.runSync(sessionId, agent.id, "What's the weather in Paris?", { variables: { user_id: 'u-1' } })).runId;
    failedId = await client.run(sessionId, orphan.id, 'Hello');
    await client.waitForRun(failedId).catch(() => {});
  });
  afterAll(async () => {
    await env?.close();
  });

  it('lists runs as a table, filters by state and session, and prints JSON', async () => {
    const url = { DATABASE_URL: env.m.db.url };
    const [list, failed, bySession, json, none] = await Promise.all([
      cli(['runs'], url),
      cli(['runs', '--state', 'failed'], url),
      cli(['runs', '--session', sessionId, '--limit', '1'], url),
      cli(['runs', '--json'], url),
      cli(['runs', '--state', 'cancelled,pending'], url),
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+AGENT\s+MODE\s+STATE/);
    expect(list.stdout).toMatch(new RegExp(`${completedId}\\s+weather\\s+batch\\s+completed`));
    expect(list.stdout).toMatch(new RegExp(`${failedId}\\s+orphan\\s+batch\\s+failed`));

    expect(failed.stdout).toContain(failedId);
    expect(failed.stdout).not.toContain(completedId);

    expect(bySession.stdout.split('\n').filter((l) => /^[0-9a-f]{8}-/.test(l))).toHaveLength(1);
    expect(bySession.stdout).toContain('Runs 1-1 of 2.');

    const page = JSON.parse(json.stdout) as { total: number; items: { id: string; state: string }[] };
    expect(page.total).toBe(2);
    expect(page.items.map((r) => r.id).sort()).toEqual([completedId, failedId].sort());

    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toBe('No runs.');
  });

  it('shows one run with its iterations and tool calls', async () => {
    const url = { DATABASE_URL: env.m.db.url };
    const [text, json, failed] = await Promise.all([cli(['run', completedId], url), cli(['run', completedId, '--json'], url), cli(['run', failedId], url)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/State:\s+completed/);
    expect(text.stdout).toMatch(/Agent:\s+weather \(/);
    expect(text.stdout).toMatch(/Variables:\s+\{"user_id":"u-1"\}/);
    expect(text.stdout).toMatch(/Answer:\s+.*Sunny in Paris/);
    expect(text.stdout).toContain('Iterations (2):');
    expect(text.stdout).toMatch(/^1\s+batch\s+completed\s+prompt\s+0\s+msgbatch_\S+\s+tool_use/m);
    expect(text.stdout).toMatch(/^2\s+batch\s+completed\s+tool_results/m);
    expect(text.stdout).toContain('Tool calls (1):');
    expect(text.stdout).toMatch(/get_weather\s+completed\s+2\/3\s+\S+\s+\{"city":"Paris"\}\s+Sunny in Paris/);

    const parsed = JSON.parse(json.stdout) as { run: { id: string }; iterations: unknown[]; tools: { toolName: string; attempt: number }[] };
    expect(parsed.run.id).toBe(completedId);
    expect(parsed.iterations).toHaveLength(2);
    expect(parsed.tools).toMatchObject([{ toolName: 'get_weather', attempt: 2 }]);

    expect(failed.code).toBe(0);
    expect(failed.stdout).toMatch(/State:\s+failed \(tool_not_registered: /);
  });

  it('reports a malformed or unknown id, and an unmigrated schema, in one line with exit code 1', async () => {
    const url = { DATABASE_URL: env.m.db.url };
    const [malformed, unknown, unmigrated] = await Promise.all([
      cli(['run', '123'], url),
      cli(['run', '5b7f9d0e-1111-4111-8111-111111111111'], url),
      cli(['runs', '--schema', 'nothing_here'], url),
    ]);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr.trim()).toBe('agentpg: run id must be a UUID, got "123"');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('agentpg: run 5b7f9d0e-1111-4111-8111-111111111111 does not exist');
    expect(unmigrated.code).toBe(1);
    expect(unmigrated.stderr).toContain('schema "nothing_here" has no agentpg tables: run `agentpg migrate up`');
  });
});

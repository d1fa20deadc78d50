import type { Command } from 'commander';
import { loadMigrations, migrate, migrateDown, migrationStatus } from '../../db/migrate.js';
import { CliError, nonNegativeInt, positiveInt, withConnectionOptions, withDatabase, type ConnectionOptions } from '../db.js';
import { table, time } from '../format.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

function label(version: number): string {
  const m = loadMigrations().find((x) => x.version === version);
  return m ? `${String(version).padStart(3, '0')}_${m.name}` : String(version);
}

/** `agentpg migrate [up|down|status]`: applies, reverts and lists the schema migrations. */
export function register(program: Command): void {
  const migrateCmd = program
    .command('migrate')
    .description('Apply, revert or list the database migrations (default: up)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ agentpg migrate                       # same as: agentpg migrate up\n  $ agentpg migrate status --schema agentpg\n  $ agentpg migrate down --steps 1',
    );

  withConnectionOptions(
    migrateCmd
      .command('up', { isDefault: true })
      .description('Apply every pending migration (safe to run from several processes at once)')
      .option('--to <version>', 'apply up to and including this version', nonNegativeInt('--to')),
  ).action(async (opts: ConnectionOptions & { to?: number }) => {
    await withDatabase(opts, async (driver, schema) => {
      const applied = await migrate(driver, { schema, ...(opts.to !== undefined ? { target: opts.to } : {}) });
      const status = await migrationStatus(driver, { schema });
      const current = status.filter((s) => s.applied).at(-1)?.version ?? 0;
      if (applied.length === 0) out(`Nothing to apply: schema "${schema}" is at version ${current}.`);
      else {
        for (const v of applied) out(`Applied ${label(v)}`);
        out(`Schema "${schema}" is at version ${current}.`);
      }
    });
  });

  withConnectionOptions(
    migrateCmd
      .command('down')
      .description('Revert the latest migration, or several (--steps), or down to a version (--to); drops agentpg data')
      .option('--steps <n>', 'how many migrations to revert (default 1)', positiveInt('--steps'))
      .option('--to <version>', 'revert every migration above this version (0 = all)', nonNegativeInt('--to')),
  ).action(async (opts: ConnectionOptions & { steps?: number; to?: number }) => {
    if (opts.steps !== undefined && opts.to !== undefined) throw new CliError('use either --steps or --to, not both');
    await withDatabase(opts, async (driver, schema) => {
      const reverted = await migrateDown(driver, {
        schema,
        ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
        ...(opts.to !== undefined ? { to: opts.to } : {}),
      });
      const status = await migrationStatus(driver, { schema });
      const current = status.filter((s) => s.applied).at(-1)?.version ?? 0;
      if (reverted.length === 0) out(`Nothing to revert: schema "${schema}" is at version ${current}.`);
      else {
        for (const v of reverted) out(`Reverted ${label(v)}`);
        out(`Schema "${schema}" is at version ${current}.`);
      }
    });
  });

  withConnectionOptions(
    migrateCmd
      .command('status')
      .description('List every migration and whether it is applied')
      .option('--json', 'print JSON instead of a table'),
  ).action(async (opts: ConnectionOptions & { json?: boolean }) => {
    await withDatabase(opts, async (driver, schema) => {
      const status = await migrationStatus(driver, { schema });
      if (opts.json) {
        out(JSON.stringify({ schema, migrations: status }, null, 2));
        return;
      }
      out(`Schema "${schema}":`);
      out(
        table(
          ['version', 'name', 'status', 'applied at (UTC)'],
          status.map((s) => [String(s.version).padStart(3, '0'), s.name, s.applied ? 'applied' : 'pending', time(s.appliedAt)]),
        ),
      );
      const pending = status.filter((s) => !s.applied).length;
      out(pending === 0 ? 'Up to date.' : `${pending} pending: run \`agentpg migrate up\`.`);
    });
  });
}

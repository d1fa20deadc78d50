#!/usr/bin/env node
import { Command } from 'commander';
import { register as registerMigrate } from './commands/migrate.js';
import { register as registerRuns } from './commands/runs.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerEmulator } from './commands/emulator.js';

/** Each command lives in ./commands/<name>.ts and exports `register(program)`; add new ones to this list. */
const commands: Array<(program: Command) => void> = [registerMigrate, registerRuns, registerDemo, registerEmulator];

const program = new Command('agentpg')
  .description('Durable Claude agents on PostgreSQL')
  .showHelpAfterError()
  .addHelpText('after', '\nEvery command that reads the database takes --database-url (default: $DATABASE_URL) and --schema (default: agentpg).');
for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // One line, never a stack trace: the message of every error agentpg and the CLI throw is written for people.
  process.stderr.write(`agentpg: ${err instanceof Error ? err.message : String(err)}\n`);
  if (process.env.AGENTPG_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
});

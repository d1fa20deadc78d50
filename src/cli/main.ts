#!/usr/bin/env node
import { Command } from 'commander';
import { register as registerEmulator } from './commands/emulator.js';

/** Each command lives in ./commands/<name>.ts and exports `register(program)`; add new ones to this list. */
const commands: Array<(program: Command) => void> = [registerEmulator];

const program = new Command('agentpg').description('Durable Claude agents on PostgreSQL').showHelpAfterError();
for (const register of commands) register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`agentpg: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

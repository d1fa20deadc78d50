import { InvalidArgumentError, type Command } from 'commander';
import { consoleLogger } from '../../logger.js';

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer.`);
    return n;
  };
}

/** `agentpg emulator`: runs the offline Claude API until SIGINT/SIGTERM. */
export function register(program: Command): void {
  program
    .command('emulator')
    .description('Run the offline Claude API emulator (point the SDK at it with ANTHROPIC_BASE_URL)')
    .option('-p, --port <port>', 'port to listen on (0 picks a free one)', nonNegativeInt('--port'), 4010)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--batch-latency-ms <ms>', 'how long a batch stays in_progress before it ends (default 50)', nonNegativeInt('--batch-latency-ms'))
    .option('--api-key <key>', 'accept only this API key (default: any non-empty key)')
    .action(async (opts: { port: number; host: string; batchLatencyMs?: number; apiKey?: string }) => {
      const { startEmulator } = await import('../../emulator/index.js');
      const emulator = await startEmulator({
        port: opts.port,
        host: opts.host,
        logger: consoleLogger('warn'),
        ...(opts.batchLatencyMs !== undefined ? { batchLatencyMs: opts.batchLatencyMs } : {}),
        ...(opts.apiKey !== undefined ? { apiKey: opts.apiKey } : {}),
      });
      process.stdout.write(`Claude API emulator listening on ${emulator.url}\n`);
      process.stdout.write(`  export ANTHROPIC_BASE_URL=${emulator.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await emulator.close();
      process.stdout.write('emulator stopped\n');
    });
}

/** Structured logger. `console`-like objects and pino/winston adapters fit; the default drops everything. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** A logger printing to stderr at or above `level`; handy for scripts and the CLI. */
export function consoleLogger(level: 'debug' | 'info' | 'warn' | 'error' = 'info'): Logger {
  const order = ['debug', 'info', 'warn', 'error'] as const;
  const min = order.indexOf(level);
  const emit = (l: (typeof order)[number]) => (msg: string, fields?: Record<string, unknown>) => {
    if (order.indexOf(l) < min) return;
    process.stderr.write(`[agentpg] ${l} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

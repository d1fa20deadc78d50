import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));

export interface Worker {
  proc: ChildProcess;
  instanceId: string;
  output: () => string;
}

/** Starts a worker process and resolves once it printed READY (it is registered and claiming work). */
export function startWorker(script: string, env: Record<string, string>, timeoutMs = 30_000): Promise<Worker> {
  const proc = spawn(process.execPath, [TSX, fileURLToPath(new URL(script, import.meta.url))], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, instanceId: m[1]!, output: () => out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before READY:\n${out}`));
    });
  });
}

/** Sends a signal and resolves when the process has exited. */
export function stopWorker(w: Worker, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (w.proc.exitCode !== null || w.proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    w.proc.once('exit', () => resolve());
    w.proc.kill(signal);
  });
}

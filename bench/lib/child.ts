/**
 * Child processes of the benchmark, speaking a line protocol: the child prints `READY <json>` once started,
 * answers `<command>` lines on stdin with `<COMMAND> <json>` lines, and exits on `exit` (or SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { BUILD_DIR } from './build.js';

export class Child {
  private readonly waiting = new Map<string, ((v: unknown) => void)[]>();
  private readonly lineHandlers = new Set<(line: string) => void>();
  readonly ready: Promise<unknown>;
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      for (const h of this.lineHandlers) h(line);
      const m = /^([A-Z_]+) (.*)$/.exec(line);
      if (!m) return;
      const q = this.waiting.get(m[1]!);
      const resolve = q?.shift();
      if (resolve) resolve(JSON.parse(m[2]!));
    });
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 20_000) this.stderr = this.stderr.slice(-10_000);
      if (process.env.BENCH_DEBUG) process.stderr.write(`[${name}] ${d}`);
    });
    this.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
    this.ready = Promise.race([
      this.expect('READY'),
      this.exited.then((code) => {
        throw new Error(`${name} exited with ${code} before READY:\n${this.stderr}`);
      }),
    ]);
  }

  onLine(h: (line: string) => void): void {
    this.lineHandlers.add(h);
  }

  /** Resolves with the payload of the next `<tag> <json>` line. */
  expect<T = unknown>(tag: string): Promise<T> {
    return new Promise((resolve) => {
      const q = this.waiting.get(tag) ?? [];
      q.push(resolve as (v: unknown) => void);
      this.waiting.set(tag, q);
    });
  }

  /** Sends a command and waits for its answer line. */
  async ask<T = unknown>(command: string, arg: unknown = null): Promise<T> {
    const answer = this.expect<T>(command.toUpperCase());
    this.proc.stdin!.write(`${command} ${JSON.stringify(arg)}\n`);
    return Promise.race([
      answer,
      this.exited.then((code) => {
        throw new Error(`${this.name} exited with ${code} while answering ${command}:\n${this.stderr}`);
      }),
    ]);
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.stdin!.write('exit null\n');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Starts the bundled `bench/<script>` (see build.ts) with plain Node and waits for its READY line. */
export async function startChild(script: string, env: Record<string, string>, name = script): Promise<{ child: Child; ready: unknown }> {
  // BENCH_PROFILE=<dir>: every child writes a V8 CPU profile there (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const proc = spawn(process.execPath, [...profile, join(BUILD_DIR, script.replace(/\.ts$/, '.mjs'))], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child = new Child(name, proc);
  const ready = await child.ready;
  return { child, ready };
}

/** In a child: calls `handler` for each command line; `exit` runs `onExit` then exits. */
export function serveCommands(handlers: Record<string, (arg: unknown) => unknown>, onExit: () => Promise<void>): void {
  const rl = createInterface({ input: process.stdin });
  let exiting = false;
  const exit = async () => {
    if (exiting) return;
    exiting = true;
    try {
      await onExit();
    } finally {
      process.exit(0);
    }
  };
  rl.on('line', async (line) => {
    const sp = line.indexOf(' ');
    const cmd = sp < 0 ? line : line.slice(0, sp);
    const arg = sp < 0 ? null : JSON.parse(line.slice(sp + 1));
    if (cmd === 'exit') return exit();
    const h = handlers[cmd];
    if (!h) return;
    const result = await h(arg);
    process.stdout.write(`${cmd.toUpperCase()} ${JSON.stringify(result ?? null)}\n`);
  });
  rl.on('close', () => void exit());
  process.on('SIGTERM', () => void exit());
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on one machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import type { MessageBatch } from '@anthropic-ai/sdk/resources/messages/batches';
import type { Server } from 'node:http';
import type { Clock } from './clock.js';
import { EmulatorCore } from './core.js';
import type { Fault, FaultHandle, FaultTarget } from './faults.js';
import type { RequestMatcher } from './matcher.js';
import { resolveOptions, type EmulatorOptions } from './options.js';
import type { RequestLog } from './request-log.js';
import type { ScriptHandle, ScriptReply } from './script.js';
import { buildApp, listen } from './server.js';
import type { Responder } from './types.js';

/** A running Claude API emulator. Point the SDK at it with `new Anthropic({ apiKey, baseURL: emulator.url })`. */
export interface Emulator {
  /** Origin to use as the SDK's `baseURL`, e.g. `http://127.0.0.1:53121` (no `/v1`). */
  readonly url: string;
  readonly port: number;
  /** Every request answered (or dropped), oldest first. */
  readonly requests: RequestLog;
  /** The clock the emulator reads (the one passed in options, or the system clock). */
  readonly clock: Clock;

  /**
   * Scripts the replies to calls selected by `matcher`, consumed in order (see {@link ScriptHandle.repeatLast}).
   * Works for POST /v1/messages (streaming or not) and batch requests. Unmatched calls go to the responder.
   * @example emu.script({ system: /researcher/ }, reply.toolUse('search', { q: 'x' }), 'Done.')
   */
  script(matcher: RequestMatcher, ...replies: ScriptReply[]): ScriptHandle;

  /**
   * Injects a fault. HTTP faults (`http`, `drop`, `delay`, `stream_*`) fire on requests matching `target`;
   * batch faults fire on batch requests (`batch_result`) or batch creation (`batch_latency`). Fires once unless
   * `target.times` says otherwise.
   * @example emu.fault(faults.rateLimited({ retryAfterMs: 5 }), { path: '/v1/messages', times: 2 })
   */
  fault(fault: Fault, target?: FaultTarget): FaultHandle;

  /** Replaces the responder for unscripted calls (undefined: back to the options' or the default one). */
  setResponder(responder: Responder | undefined): void;

  /** A batch as GET /v1/messages/batches/{id} would return it (time-based transitions applied). */
  getBatch(id: string): MessageBatch | undefined;
  /** All batches, newest first. */
  listBatches(): MessageBatch[];

  /** Forgets scripts, faults, the request log, batches and the prompt cache; keeps the options and the port. */
  reset(): void;
  /** Stops the server, cuts open connections and stops batch processing. */
  close(): Promise<void>;
}

class RunningEmulator implements Emulator {
  readonly url: string;
  #closed: Promise<void> | undefined;

  constructor(
    private readonly core: EmulatorCore,
    private readonly server: Server,
    readonly port: number,
    host: string,
  ) {
    const shown = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
    this.url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
  }

  get requests(): RequestLog {
    return this.core.log;
  }
  get clock(): Clock {
    return this.core.opts.clock;
  }
  script(matcher: RequestMatcher, ...replies: ScriptReply[]): ScriptHandle {
    return this.core.scripts.add(matcher, replies);
  }
  fault(fault: Fault, target?: FaultTarget): FaultHandle {
    return this.core.faults.add(fault, target);
  }
  setResponder(responder: Responder | undefined): void {
    this.core.customResponder = responder ?? this.core.opts.responder;
  }
  getBatch(id: string): MessageBatch | undefined {
    return this.core.batches.get(id)?.toJSON();
  }
  listBatches(): MessageBatch[] {
    return this.core.batches.list().map((b) => b.toJSON());
  }
  reset(): void {
    this.core.reset();
  }
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      this.core.close();
      this.server.close(() => resolve());
      // Open keep-alive and streaming connections would hold close() forever.
      this.server.closeAllConnections();
    });
    return this.#closed;
  }
}

/**
 * Starts a Claude API emulator on `options.port` (default: a free port) and resolves once it accepts connections.
 * @example
 * const emu = await startEmulator();
 * const client = new Anthropic({ apiKey: 'test', baseURL: emu.url });
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const resolved = resolveOptions(options);
  const core = new EmulatorCore(resolved);
  const { server, port } = await listen(buildApp(core), resolved.host, resolved.port);
  return new RunningEmulator(core, server, port, resolved.host);
}

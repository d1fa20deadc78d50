/**
 * Notifier specifics that a real server cannot provoke on demand: backoff, failing reconnect attempts,
 * stop() in every phase, handler isolation. Uses an in-memory fake ListenConnection.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ListenConnection, ListenHandlers } from '../../src/db/driver.js';
import { backoffDelay, Notifier, validateChannel } from '../../src/db/notifier.js';
import { ValidationError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { waitFor } from '../support/db.js';

class FakeConn implements ListenConnection {
  readonly listened = new Set<string>();
  readonly log: string[] = [];
  closed = false;
  failListen: ((channel: string) => Error | undefined) | undefined;
  /** When set, listen() waits for this before completing. */
  gate: Promise<void> | undefined;

  constructor(
    readonly handlers: ListenHandlers,
    readonly backendPid: number,
  ) {}

  async listen(channel: string): Promise<void> {
    this.log.push(`LISTEN ${channel}`);
    await this.gate;
    await Promise.resolve();
    if (this.closed) throw new Error('connection closed');
    const err = this.failListen?.(channel);
    if (err) throw err;
    this.listened.add(channel);
  }

  async unlisten(channel: string): Promise<void> {
    this.log.push(`UNLISTEN ${channel}`);
    await Promise.resolve();
    if (this.closed) throw new Error('connection closed');
    this.listened.delete(channel);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Delivers a notification as the server would (only for LISTENed channels). */
  emit(channel: string, payload: string): void {
    if (!this.closed && this.listened.has(channel)) this.handlers.onNotification({ channel, payload });
  }

  /** The connection dies. */
  kill(err: unknown = new Error('terminated')): void {
    this.closed = true;
    this.handlers.onClose(err);
  }
}

class FakeDriver {
  readonly conns: FakeConn[] = [];
  calls = 0;
  failNext = 0;
  /** When set, connectListener waits for this. */
  gate: Promise<void> | undefined;

  async connectListener(handlers: ListenHandlers): Promise<ListenConnection> {
    this.calls++;
    await this.gate;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('connection refused');
    }
    const c = new FakeConn(handlers, 1000 + this.conns.length);
    this.conns.push(c);
    return c;
  }

  get last(): FakeConn {
    const c = this.conns[this.conns.length - 1];
    if (!c) throw new Error('no connection yet');
    return c;
  }

  get open(): FakeConn[] {
    return this.conns.filter((c) => !c.closed);
  }
}

function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('doubles from min, caps at max, and jitters within [d/2, d]', () => {
    const hi = () => 0.999999;
    const lo = () => 0;
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, 100, 5000, hi))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect([0, 1, 2, 6, 50].map((a) => backoffDelay(a, 100, 5000, lo))).toEqual([50, 100, 200, 2500, 2500]);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, 100, 5000);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
    expect(backoffDelay(10_000, 100, 5000, hi)).toBe(5000); // no overflow
  });
});

describe('validateChannel', () => {
  it('accepts dots, case, unicode up to 63 bytes; rejects empty, NUL, too long', () => {
    expect(() => validateChannel('agentpg.Run_Created')).not.toThrow();
    expect(() => validateChannel('x'.repeat(63))).not.toThrow();
    expect(() => validateChannel('')).toThrow(ValidationError);
    expect(() => validateChannel('a\0b')).toThrow(ValidationError);
    expect(() => validateChannel('x'.repeat(64))).toThrow(ValidationError);
    expect(() => validateChannel('é'.repeat(32))).toThrow(ValidationError); // 64 bytes
  });
});

describe('Notifier', () => {
  it('LISTENs channels subscribed before start() and delivers to them', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    const got: string[] = [];
    await n.subscribe('a', (p) => void got.push(p));
    expect(d.calls).toBe(0);
    await n.start();
    expect(n.connected).toBe(true);
    expect(n.backendPid).toBe(1000);
    expect([...d.last.listened]).toEqual(['a']);
    d.last.emit('a', 'hello');
    expect(got).toEqual(['hello']);
    await n.start(); // no second connection
    expect(d.calls).toBe(1);
    await n.stop();
    expect(d.open).toEqual([]);
  });

  it('subscribe() while connected resolves once LISTEN is active', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    await n.start();
    const gate = deferred();
    d.last.gate = gate.promise;
    let resolved = false;
    const p = n.subscribe('b', () => {}).then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(false);
    gate.resolve();
    await p;
    expect(d.last.listened.has('b')).toBe(true);
    await n.stop();
  });

  it('isolates handlers: a throwing or rejecting handler does not stop the others', async () => {
    const d = new FakeDriver();
    const { logger, lines } = recordingLogger();
    const n = new Notifier(d, { logger });
    const got: string[] = [];
    await n.subscribe('c', () => {
      throw new Error('sync failure');
    });
    await n.subscribe('c', async () => {
      throw new Error('async failure');
    });
    await n.subscribe('c', (p) => void got.push(p));
    await n.start();
    d.last.emit('c', 'one');
    d.last.emit('c', 'two');
    expect(got).toEqual(['one', 'two']);
    await waitFor(() => lines.filter((l) => l.level === 'error').length === 4, { message: 'four handler errors logged' });
    expect(lines.some((l) => String(l.fields?.error).includes('async failure'))).toBe(true);
    await n.stop();
  });

  it('treats the same function subscribed twice as two subscriptions', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    await n.start();
    const got: string[] = [];
    const h = (p: string) => void got.push(p);
    const un1 = await n.subscribe('same', h);
    await n.subscribe('same', h);
    d.last.emit('same', 'x');
    expect(got).toEqual(['x', 'x']);
    await un1();
    d.last.emit('same', 'y');
    expect(got).toEqual(['x', 'x', 'y']);
    expect(d.last.listened.has('same')).toBe(true);
    await n.stop();
  });

  it('UNLISTENs only when the last handler of a channel goes', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    await n.start();
    const un1 = await n.subscribe('u', () => {});
    const un2 = await n.subscribe('u', () => {});
    await un1();
    expect(d.last.log).toEqual(['LISTEN u']);
    await un2();
    await un2();
    expect(d.last.log).toEqual(['LISTEN u', 'UNLISTEN u']);
    // Re-subscribing issues LISTEN again, after the UNLISTEN.
    await n.subscribe('u', () => {});
    expect(d.last.log).toEqual(['LISTEN u', 'UNLISTEN u', 'LISTEN u']);
    expect(d.last.listened.has('u')).toBe(true);
    await n.stop();
  });

  it('rejects subscribe() when LISTEN fails on a live connection, and forgets the handler', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    await n.start();
    d.last.failListen = (ch) => (ch === 'bad' ? new Error('permission denied') : undefined);
    await expect(n.subscribe('bad', () => {})).rejects.toThrow('permission denied');
    await expect(n.subscribe('', () => {})).rejects.toThrow(ValidationError);
    d.last.failListen = undefined;
    // The failed channel is not remembered: a reconnect does not try it again.
    vi.useFakeTimers();
    d.last.kill();
    await vi.advanceTimersByTimeAsync(200);
    expect(n.connected).toBe(true);
    expect([...d.last.listened]).toEqual([]);
    await n.stop();
  });

  it('reconnects with backoff after the connection dies, re-LISTENs everything, then fires onReconnect', async () => {
    vi.useFakeTimers();
    const d = new FakeDriver();
    const { logger, lines } = recordingLogger();
    const n = new Notifier(d, { logger, reconnectMinMs: 100, reconnectMaxMs: 1000, random: () => 0.999999 });
    const got: string[] = [];
    await n.subscribe('x', (p) => void got.push(`x:${p}`));
    await n.subscribe('y', (p) => void got.push(`y:${p}`));
    await n.start();
    const seenAtReconnect: string[][] = [];
    n.onReconnect(() => {
      seenAtReconnect.push([...d.last.listened].sort());
    });
    n.onReconnect(() => {
      throw new Error('bad callback');
    });
    let second = 0;
    n.onReconnect(() => void second++);

    const first = d.last;
    d.failNext = 3;
    first.kill(new Error('terminating connection due to administrator command'));
    expect(n.connected).toBe(false);
    expect(n.backendPid).toBeNull();
    // Subscribed while disconnected: LISTENed on reconnect.
    await n.subscribe('z', (p) => void got.push(`z:${p}`));
    // A late notification from the dead connection is ignored.
    first.handlers.onNotification({ channel: 'x', payload: 'ghost' });

    // Attempts at 100, then +200, +400, +800 (the 4th succeeds).
    await vi.advanceTimersByTimeAsync(99);
    expect(d.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.calls).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(d.calls).toBe(3);
    await vi.advanceTimersByTimeAsync(400);
    expect(d.calls).toBe(4);
    expect(n.connected).toBe(false);
    await vi.advanceTimersByTimeAsync(800);
    expect(d.calls).toBe(5);
    expect(n.connected).toBe(true);
    expect(n.backendPid).toBe(1001);
    expect(seenAtReconnect).toEqual([['x', 'y', 'z']]);
    expect(second).toBe(1);
    expect(lines.some((l) => l.level === 'error' && l.msg.includes('onReconnect'))).toBe(true);

    d.last.emit('x', '1');
    d.last.emit('z', '2');
    expect(got).toEqual(['x:1', 'z:2']);

    // The next loss starts from the minimum delay again.
    d.last.kill();
    await vi.advanceTimersByTimeAsync(100);
    expect(n.connected).toBe(true);
    expect(seenAtReconnect).toHaveLength(2);
    await n.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() during a reconnect wait clears the timer and never connects again', async () => {
    vi.useFakeTimers();
    const d = new FakeDriver();
    const n = new Notifier(d, { reconnectMinMs: 5000, reconnectMaxMs: 5000 });
    await n.subscribe('s', () => {});
    await n.start();
    d.last.kill();
    expect(vi.getTimerCount()).toBe(1);
    await n.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(d.calls).toBe(1);
    expect(d.open).toEqual([]);
  });

  it('stop() during a connect in flight closes that connection before resolving', async () => {
    vi.useFakeTimers();
    const d = new FakeDriver();
    const n = new Notifier(d, { reconnectMinMs: 10, reconnectMaxMs: 10 });
    await n.subscribe('s', () => {});
    await n.start();
    const gate = deferred();
    d.gate = gate.promise;
    d.last.kill();
    await vi.advanceTimersByTimeAsync(10);
    expect(d.calls).toBe(2); // connecting, blocked on the gate
    let stopped = false;
    const stopping = n.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(d.conns).toHaveLength(2);
    expect(d.open).toEqual([]);
    expect(n.connected).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() while start() is connecting: start() resolves quietly, nothing stays open', async () => {
    const d = new FakeDriver();
    const gate = deferred();
    d.gate = gate.promise;
    const n = new Notifier(d);
    const starting = n.start();
    const stopping = n.stop();
    gate.resolve();
    await expect(starting).resolves.toBeUndefined();
    await stopping;
    expect(d.open).toEqual([]);
    expect(n.connected).toBe(false);
  });

  it('start() rejects when the first connection fails, stays stopped, and can be retried', async () => {
    const d = new FakeDriver();
    d.failNext = 1;
    const n = new Notifier(d);
    await expect(n.start()).rejects.toThrow('connection refused');
    expect(n.connected).toBe(false);
    await n.start();
    expect(n.connected).toBe(true);
    await n.stop();
  });

  it('start() fails cleanly when the connection dies while channels are being LISTENed', async () => {
    const d = new FakeDriver();
    const n = new Notifier(d);
    await n.subscribe('a', () => {});
    const orig = d.connectListener.bind(d);
    d.connectListener = async (h) => {
      const c = (await orig(h)) as FakeConn;
      c.failListen = () => {
        c.kill(new Error('died mid-LISTEN'));
        return new Error('died mid-LISTEN');
      };
      return c;
    };
    await expect(n.start()).rejects.toThrow('died mid-LISTEN');
    expect(n.connected).toBe(false);
    expect(d.open).toEqual([]);
  });

  it('picks up channels subscribed and unsubscribed while a reconnect is LISTENing', async () => {
    vi.useFakeTimers();
    const d = new FakeDriver();
    const n = new Notifier(d, { reconnectMinMs: 10, reconnectMaxMs: 10 });
    const unA = await n.subscribe('a', () => {});
    await n.start();
    let reconnected = 0;
    n.onReconnect(() => void reconnected++);
    // Hold LISTENs on the next connection until we have changed the subscriptions.
    const gate = deferred();
    const orig = d.connectListener.bind(d);
    d.connectListener = async (h) => {
      const c = (await orig(h)) as FakeConn;
      c.gate = gate.promise;
      return c;
    };
    d.last.kill();
    await vi.advanceTimersByTimeAsync(10);
    expect(d.calls).toBe(2);
    await n.subscribe('b', () => {}); // while connecting: resolves at once
    await unA();
    gate.resolve();
    await vi.advanceTimersByTimeAsync(0);
    await waitForFake(() => n.connected);
    expect([...d.last.listened].sort()).toEqual(['b']);
    expect(reconnected).toBe(1);
    await n.stop();
  });
});

/** waitFor for fake-timer tests: advances fake time instead of sleeping. */
async function waitForFake(check: () => boolean, steps = 50): Promise<void> {
  for (let i = 0; i < steps; i++) {
    if (check()) return;
    await vi.advanceTimersByTimeAsync(1);
  }
  throw new Error('condition not reached');
}

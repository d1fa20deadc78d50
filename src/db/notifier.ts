/**
 * The process-wide LISTEN multiplexer (design invariant 7: NOTIFY is a hint, rows are the truth).
 *
 * One {@link ListenConnection} per process carries every channel. When it dies the notifier reconnects with
 * exponential backoff and jitter, LISTENs every subscribed channel again and then calls the `onReconnect`
 * callbacks, so workers poll at once for whatever they missed while deaf.
 *
 * Imports no driver library: it only needs `Driver.connectListener`.
 */
import type { Driver, ListenConnection, Notification } from './driver.js';
import { ValidationError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';

export type NotificationHandler = (payload: string, channel: string) => void | Promise<void>;

export interface NotifierOptions {
  logger?: Logger;
  /** First reconnect delay in ms (before jitter). Default 100. */
  reconnectMinMs?: number;
  /** Upper bound of the reconnect delay in ms. Default 5000. */
  reconnectMaxMs?: number;
  /** Source of randomness for the jitter; tests may pin it. Default `Math.random`. */
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): `min * 2^attempt` capped at `max`, then "equal
 * jitter": a uniformly random value in [d/2, d].
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(d / 2 + (random() * d) / 2);
}

const MAX_CHANNEL_BYTES = 63; // NAMEDATALEN - 1: longer names would be truncated by the server

/** Checks a channel name; throws a {@link ValidationError} when PostgreSQL could not carry it as given. */
export function validateChannel(channel: string): void {
  if (typeof channel !== 'string' || channel.length === 0) {
    throw new ValidationError('notification channel must be a non-empty string', { channel });
  }
  if (channel.includes('\0')) throw new ValidationError('notification channel must not contain NUL', { channel });
  if (Buffer.byteLength(channel, 'utf8') > MAX_CHANNEL_BYTES) {
    throw new ValidationError(`notification channel is longer than ${MAX_CHANNEL_BYTES} bytes`, { channel });
  }
}

interface ChannelState {
  handlers: Set<NotificationHandler>;
  /** LISTEN issued on the current connection (resolves when active), or null when not listened there. */
  listening: Promise<void> | null;
}

type State = 'stopped' | 'connecting' | 'connected' | 'waiting';

export class Notifier {
  private readonly driver: Pick<Driver, 'connectListener'>;
  private readonly logger: Logger;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  private readonly channels = new Map<string, ChannelState>();
  private readonly reconnectCallbacks = new Set<() => void>();
  private state: State = 'stopped';
  private conn: ListenConnection | null = null;
  /** Bumped by stop() and by each connection loss; stale async work compares and bails out. */
  private epoch = 0;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(driver: Pick<Driver, 'connectListener'>, opts: NotifierOptions = {}) {
    this.driver = driver;
    this.logger = opts.logger ?? silentLogger;
    this.minMs = opts.reconnectMinMs ?? 100;
    this.maxMs = Math.max(opts.reconnectMaxMs ?? 5000, this.minMs);
    this.random = opts.random ?? Math.random;
    if (!(this.minMs > 0) || !Number.isFinite(this.maxMs)) {
      throw new ValidationError('reconnectMinMs must be > 0 and reconnectMaxMs finite', {
        reconnectMinMs: this.minMs,
        reconnectMaxMs: this.maxMs,
      });
    }
  }

  /** True while a LISTEN connection is up and every subscribed channel is LISTENed on it. */
  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Backend pid of the LISTEN connection (null while disconnected, and always for PGlite). */
  get backendPid(): number | null {
    return this.state === 'connected' ? (this.conn?.backendPid ?? null) : null;
  }

  /**
   * Opens the LISTEN connection and LISTENs every channel subscribed so far. Rejects (leaving the notifier
   * stopped) when that first connection cannot be made; later losses are retried forever.
   */
  async start(): Promise<void> {
    if (this.state !== 'stopped') return;
    this.state = 'connecting';
    const epoch = ++this.epoch;
    const attempt = this.connectOnce(epoch);
    // stop() waits for this attempt, so a connection opened meanwhile is closed before stop() resolves.
    this.loop = attempt.then(
      () => undefined,
      () => undefined,
    );
    try {
      await attempt;
    } catch (err) {
      if (this.epoch !== epoch) return; // stop() was called meanwhile
      this.state = 'stopped';
      throw err;
    } finally {
      if (this.epoch === epoch) this.loop = null;
    }
  }

  /**
   * Adds a handler for a channel. Resolves once the channel is LISTENed (immediately when the notifier is
   * not connected: the LISTEN is then issued on (re)connect). The returned function removes the handler,
   * UNLISTENing when it was the channel's last one.
   */
  async subscribe(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    validateChannel(channel);
    let ch = this.channels.get(channel);
    if (!ch) {
      ch = { handlers: new Set(), listening: null };
      this.channels.set(channel, ch);
    }
    // A Set would merge the same function subscribed twice; wrap so each subscription is distinct.
    const entry: NotificationHandler = (payload, name) => handler(payload, name);
    ch.handlers.add(entry);
    const unsubscribe = () => this.removeHandler(channel, entry);

    if (this.state === 'connected' && this.conn) {
      const conn = this.conn;
      if (!ch.listening) ch.listening = this.issueListen(conn, channel, ch);
      try {
        await ch.listening;
      } catch (err) {
        // The connection died meanwhile: the reconnect LISTENs the channel, the subscription stands.
        if (this.conn === conn && this.state === 'connected') {
          await unsubscribe();
          throw err;
        }
      }
    }
    return unsubscribe;
  }

  /** Registers a callback run after each reconnect, once every channel is LISTENed again. */
  onReconnect(cb: () => void): () => void {
    this.reconnectCallbacks.add(cb);
    return () => {
      this.reconnectCallbacks.delete(cb);
    };
  }

  /** Closes the LISTEN connection and cancels any pending reconnect. Subscriptions are kept for a later start(). */
  async stop(): Promise<void> {
    if (this.state === 'stopped' && !this.loop) return;
    this.epoch++;
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake?.();
    this.wake = null;
    const conn = this.conn;
    this.conn = null;
    for (const ch of this.channels.values()) ch.listening = null;
    if (conn) await this.closeQuietly(conn);
    // A connect attempt in flight closes what it opened when it sees the new epoch.
    await this.loop;
    this.loop = null;
  }

  // ---------------------------------------------------------------------------------------------------

  private issueListen(conn: ListenConnection, channel: string, ch: ChannelState): Promise<void> {
    const p = conn.listen(channel);
    p.catch((err: unknown) => {
      if (ch.listening === p) ch.listening = null;
      this.logger.debug('notifier: LISTEN failed', { channel, error: String(err) });
    });
    return p;
  }

  private async removeHandler(channel: string, entry: NotificationHandler): Promise<void> {
    const ch = this.channels.get(channel);
    if (!ch || !ch.handlers.delete(entry)) return;
    if (ch.handlers.size > 0) return;
    this.channels.delete(channel);
    const conn = this.conn;
    if (ch.listening && conn && this.state === 'connected') {
      try {
        await conn.unlisten(channel);
      } catch (err) {
        this.logger.debug('notifier: UNLISTEN failed', { channel, error: String(err) });
      }
    }
  }

  private deliver(n: Notification): void {
    const ch = this.channels.get(n.channel);
    if (!ch) return;
    for (const h of [...ch.handlers]) {
      try {
        const r = h(n.payload, n.channel);
        if (r && typeof (r as Promise<void>).then === 'function') {
          (r as Promise<void>).then(undefined, (err: unknown) => this.handlerFailed(n.channel, err));
        }
      } catch (err) {
        this.handlerFailed(n.channel, err);
      }
    }
  }

  private handlerFailed(channel: string, err: unknown): void {
    this.logger.error('notifier: notification handler failed', { channel, error: err instanceof Error ? err.message : String(err) });
  }

  /**
   * Opens a connection and LISTENs every channel, including ones subscribed while this runs, then switches
   * to connected. Throws (after closing what it opened) on failure or when superseded by stop().
   */
  private async connectOnce(epoch: number): Promise<void> {
    let conn: ListenConnection | null = null;
    let lost: unknown = undefined;
    let isLost = false;
    conn = await this.driver.connectListener({
      onNotification: (n) => {
        if (this.epoch === epoch) this.deliver(n);
      },
      onClose: (err) => {
        isLost = true;
        lost = err;
        if (this.conn === conn && this.epoch === epoch) this.connectionLost(err);
      },
    });
    const superseded = () => this.epoch !== epoch || isLost;
    try {
      if (superseded()) throw lost ?? new Error('notifier: stopped while connecting');
      // Channels may be added or removed while we LISTEN; loop until this connection matches the map.
      const listened = new Set<string>();
      for (;;) {
        const todo = [...this.channels.keys()].filter((c) => !listened.has(c));
        const stale = [...listened].filter((c) => !this.channels.has(c));
        if (todo.length === 0 && stale.length === 0) break;
        for (const c of stale) {
          listened.delete(c);
          await conn.unlisten(c);
        }
        await Promise.all(todo.map((c) => conn!.listen(c).then(() => listened.add(c))));
        if (superseded()) throw lost ?? new Error('notifier: stopped while connecting');
      }
      for (const [name, ch] of this.channels) ch.listening = listened.has(name) ? Promise.resolve() : null;
    } catch (err) {
      await this.closeQuietly(conn);
      throw err;
    }
    this.conn = conn;
    this.state = 'connected';
    this.logger.debug('notifier: connected', { backendPid: conn.backendPid, channels: this.channels.size });
  }

  private connectionLost(err: unknown): void {
    this.logger.warn('notifier: LISTEN connection lost; reconnecting', { error: err === undefined ? undefined : String(err) });
    const dead = this.conn;
    this.conn = null;
    for (const ch of this.channels.values()) ch.listening = null;
    const epoch = ++this.epoch;
    this.state = 'waiting';
    if (dead) void this.closeQuietly(dead);
    this.loop = this.reconnectLoop(epoch).finally(() => {
      if (this.epoch === epoch) this.loop = null;
    });
  }

  private async reconnectLoop(epoch: number): Promise<void> {
    for (let attempt = 0; this.epoch === epoch; attempt++) {
      const delay = backoffDelay(attempt, this.minMs, this.maxMs, this.random);
      this.state = 'waiting';
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(() => {
          this.timer = null;
          this.wake = null;
          resolve();
        }, delay);
      });
      if (this.epoch !== epoch) return;
      this.state = 'connecting';
      try {
        await this.connectOnce(epoch);
      } catch (err) {
        if (this.epoch !== epoch) return;
        this.logger.warn('notifier: reconnect failed', { attempt: attempt + 1, error: String(err) });
        continue;
      }
      this.logger.info('notifier: reconnected', { backendPid: this.conn?.backendPid ?? null, attempts: attempt + 1 });
      for (const cb of [...this.reconnectCallbacks]) {
        try {
          cb();
        } catch (cbErr) {
          this.logger.error('notifier: onReconnect callback failed', { error: String(cbErr) });
        }
      }
      return;
    }
  }

  private async closeQuietly(conn: ListenConnection): Promise<void> {
    try {
      await conn.close();
    } catch (err) {
      this.logger.debug('notifier: closing the LISTEN connection failed', { error: String(err) });
    }
  }
}

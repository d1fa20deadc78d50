import { ValidationError } from '../errors.js';

/**
 * Where the emulator reads the time. Batch expiry (24 h), result archiving (29 days), prompt-cache TTLs and
 * every timestamp come from here, so a test can jump a day ahead with a {@link ManualClock}.
 */
export interface Clock {
  /** Milliseconds since the epoch; fractions are allowed and end up as microseconds in timestamps. */
  now(): number;
}

/** Wall-clock time with sub-millisecond precision. */
export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
};

/** A clock that moves only when told to. Starts at `start` (default: the current wall-clock time). */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: Date | number = Date.now()) {
    this.#now = typeof start === 'number' ? start : start.getTime();
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms` milliseconds. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new ValidationError(`ManualClock.advance: ms must be >= 0, got ${ms}`, { ms });
    this.#now += ms;
  }
  /** Sets the clock to an absolute time (it may go backwards; the emulator copes). */
  set(time: Date | number): void {
    this.#now = typeof time === 'number' ? time : time.getTime();
  }
}

/** RFC 3339 with microseconds and `Z`, the format of every timestamp the API returns. */
export function rfc3339(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.floor((ms - whole) * 1000);
  const iso = new Date(whole).toISOString(); // 2024-09-24T18:37:24.100Z
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

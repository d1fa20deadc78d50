import { ValidationError } from '../errors.js';
import type { Fault } from './faults.js';
import { matches, type RequestMatcher } from './matcher.js';
import type { CallContext, MessageRequest, ResponderContext, ResponderResult } from './types.js';

/** A reply computed from the request. May return a fault or plain text. */
export type ReplyFunction = (
  request: MessageRequest,
  context: ResponderContext,
) => ResponderResult | Fault | string | Promise<ResponderResult | Fault | string>;

/**
 * One scripted answer: a {@link ResponderResult}, plain text (an `end_turn` text reply), a {@link Fault} (e.g.
 * `faults.overloaded()` makes that one call fail), or a function of the request returning any of these.
 */
export type ScriptReply = ResponderResult | Fault | string | ReplyFunction;

/** A registered script. */
export interface ScriptHandle {
  /** Keep answering with the last reply once the others are used up. Returns the handle. */
  repeatLast(): ScriptHandle;
  /** How many calls it answered. */
  readonly calls: number;
  /** The requests it answered, in order. */
  readonly requests: readonly MessageRequest[];
  /** How many replies are left (Infinity once repeating). */
  readonly remaining: number;
  /** True when every reply was used and it does not repeat. */
  readonly done: boolean;
  /** Removes the script. */
  cancel(): void;
}

class Script implements ScriptHandle {
  readonly matcher: RequestMatcher;
  readonly #replies: ScriptReply[];
  readonly #answered: MessageRequest[] = [];
  #next = 0;
  #repeat = false;
  #cancelled = false;

  constructor(matcher: RequestMatcher, replies: ScriptReply[]) {
    if (replies.length === 0) throw new ValidationError('script() needs at least one reply');
    this.matcher = matcher;
    this.#replies = replies;
  }
  repeatLast(): ScriptHandle {
    this.#repeat = true;
    return this;
  }
  get calls(): number {
    return this.#answered.length;
  }
  get requests(): readonly MessageRequest[] {
    return this.#answered;
  }
  get remaining(): number {
    if (this.#cancelled) return 0;
    return this.#repeat ? Infinity : this.#replies.length - this.#next;
  }
  get done(): boolean {
    return this.remaining === 0;
  }
  cancel(): void {
    this.#cancelled = true;
  }
  take(req: MessageRequest): ScriptReply {
    const i = Math.min(this.#next, this.#replies.length - 1);
    this.#next++;
    this.#answered.push(req);
    return this.#replies[i]!;
  }
}

/** The registered scripts. The first registered script that matches and has replies left answers a call. */
export class ScriptBook {
  #scripts: Script[] = [];

  add(matcher: RequestMatcher, replies: ScriptReply[]): ScriptHandle {
    const s = new Script(matcher, replies);
    this.#scripts.push(s);
    return s;
  }

  take(req: MessageRequest, ctx: CallContext): ScriptReply | undefined {
    for (const s of this.#scripts) {
      if (s.remaining > 0 && matches(s.matcher, req, ctx)) return s.take(req);
    }
    return undefined;
  }

  clear(): void {
    for (const s of this.#scripts) s.cancel();
    this.#scripts = [];
  }
}

/**
 * Errors a tool throws to say what should happen next. Any other thrown error is retried with backoff
 * until the tool's attempts are used up, then reported to the model as an error result.
 */
export class ToolControlError extends Error {}

/** Stop now, do not retry: the model receives an error result saying the call was cancelled. */
export class ToolCancelError extends ToolControlError {
  override name = 'ToolCancelError';
}

/** Give up on this call, do not retry: the model receives an error result with this message. */
export class ToolDiscardError extends ToolControlError {
  override name = 'ToolDiscardError';
}

/** Try again after `delayMs` without using up an attempt (e.g. a resource is not ready yet). */
export class ToolSnoozeError extends ToolControlError {
  override name = 'ToolSnoozeError';
  readonly delayMs: number;
  constructor(delayMs: number, message = `snoozed for ${delayMs} ms`) {
    super(message);
    if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`snooze delay must be a non-negative number of ms, got ${delayMs}`);
    this.delayMs = delayMs;
  }
}

/** `throw cancelTool('reason')` from a tool: no retry, the model is told the call was cancelled. */
export const cancelTool = (message: string): ToolCancelError => new ToolCancelError(message);
/** `throw discardTool('reason')` from a tool: no retry, the model gets the message as an error result. */
export const discardTool = (message: string): ToolDiscardError => new ToolDiscardError(message);
/** `throw snoozeTool(5000)` from a tool: run again in 5 s; the attempt is not counted. */
export const snoozeTool = (delayMs: number, message?: string): ToolSnoozeError => new ToolSnoozeError(delayMs, message);

/**
 * Every error agentpg throws on purpose is an {@link AgentPGError} with a stable `code`.
 * Match on `code` (or `instanceof` the subclass), never on the message text.
 */
export type ErrorCode =
  | 'invalid_config'
  | 'invalid_argument'
  | 'not_found'
  | 'conflict'
  | 'in_use'
  | 'client_not_started'
  | 'client_already_started'
  | 'client_stopping'
  | 'migration_failed'
  | 'driver_error'
  | 'tool_input_invalid'
  | 'run_failed'
  | 'run_cancelled'
  | 'wait_timeout'
  | 'history_invalid';

export class AgentPGError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** A configuration value was missing or out of range. Nothing was started. */
export class ConfigError extends AgentPGError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('invalid_config', message, details);
  }
}

/** A caller passed a value that can never be valid (bad name, malformed metadata, ...). Nothing was written. */
export class ValidationError extends AgentPGError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('invalid_argument', message, details);
  }
}

/** The entity does not exist (or is not visible to the tenant that asked). */
export class NotFoundError extends AgentPGError {
  constructor(entity: string, id: string) {
    super('not_found', `${entity} ${id} does not exist`, { entity, id });
  }
}

/** A uniqueness rule would be broken, e.g. an agent with the same name and metadata exists. */
export class ConflictError extends AgentPGError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('conflict', message, details);
  }
}

/** The entity cannot be deleted because other rows still reference it. */
export class InUseError extends AgentPGError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('in_use', message, details);
  }
}

/** A lifecycle method was called in the wrong client state (e.g. registerTool after start). */
export class LifecycleError extends AgentPGError {
  constructor(code: 'client_not_started' | 'client_already_started' | 'client_stopping', message: string) {
    super(code, message);
  }
}

/** Applying or reverting migrations failed; the failing migration was rolled back. */
export class MigrationError extends AgentPGError {
  constructor(message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('migration_failed', message, details, { cause });
  }
}

/** The database driver reported a problem agentpg could not classify. `cause` holds the driver's error. */
export class DriverError extends AgentPGError {
  constructor(message: string, cause?: unknown, details: Record<string, unknown> = {}) {
    super('driver_error', message, details, { cause });
  }
}

/** Tool input did not match the tool's schema. `issues` lists each problem with its JSON path. */
export class ToolInputError extends AgentPGError {
  readonly issues: { path: string; message: string }[];
  constructor(tool: string, issues: { path: string; message: string }[]) {
    super(
      'tool_input_invalid',
      `input for tool "${tool}" is invalid: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
      { tool, issues },
    );
    this.issues = issues;
  }
}

/** Postgres SQLSTATE of an error thrown by any driver, if it has one. */
export function sqlState(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Name of the constraint a Postgres error refers to, if the driver exposes it. */
export function constraintName(err: unknown): string | undefined {
  if (err && typeof err === 'object') {
    const e = err as { constraint?: unknown; constraint_name?: unknown };
    if (typeof e.constraint === 'string') return e.constraint;
    if (typeof e.constraint_name === 'string') return e.constraint_name;
  }
  return undefined;
}

/** The run ended in `failed`. `errorType` is the run's stable error code (e.g. `max_iterations`). */
export class RunFailedError extends AgentPGError {
  readonly runId: string;
  readonly errorType: string;
  constructor(runId: string, errorType: string, message: string) {
    super('run_failed', `run ${runId} failed (${errorType}): ${message}`, { runId, errorType });
    this.runId = runId;
    this.errorType = errorType;
  }
}

/** The run was cancelled before it finished. */
export class RunCancelledError extends AgentPGError {
  readonly runId: string;
  constructor(runId: string, reason?: string | null) {
    super('run_cancelled', `run ${runId} was cancelled${reason ? `: ${reason}` : ''}`, { runId });
    this.runId = runId;
  }
}

/** waitForRun gave up after `timeoutMs` (or its signal aborted). The run itself goes on. */
export class WaitTimeoutError extends AgentPGError {
  constructor(runId: string, timeoutMs: number | undefined, aborted = false) {
    super(
      'wait_timeout',
      aborted ? `waiting for run ${runId} was aborted; the run goes on` : `run ${runId} did not finish within ${timeoutMs} ms; the run goes on`,
      { runId },
    );
  }
}

export { AgentPG, VERSION } from './client.js';
export type { AgentPGConfig, ResolvedConfig, RetryPolicy, BatchConfig } from './config.js';
export { migrate, migrateDown, migrationStatus, loadMigrations, renderMigrationSql, MIGRATIONS_DIR } from './db/migrate.js';
export type { Migration, MigrationStatus, MigrateOptions } from './db/migrate.js';
export type { Driver, Queryable, QueryResult, SqlParam, ListenConnection, ListenHandlers, Notification } from './db/driver.js';
export { defineTool } from './tools/define.js';
export type { Tool, ToolContext, ToolOutput, JsonSchema, ToolInputCheck } from './tools/define.js';
export { cancelTool, discardTool, snoozeTool, ToolControlError, ToolCancelError, ToolDiscardError, ToolSnoozeError } from './tools/errors.js';
export type { RunEvent } from './engine/events.js';
export type { LifecycleHooks } from './engine/hooks.js';
export {
  AgentPGError,
  ConfigError,
  ValidationError,
  NotFoundError,
  ConflictError,
  InUseError,
  LifecycleError,
  MigrationError,
  DriverError,
  ToolInputError,
  RunFailedError,
  RunCancelledError,
  WaitTimeoutError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
export type { Logger } from './logger.js';
export { consoleLogger, silentLogger } from './logger.js';
export type * from './types.js';

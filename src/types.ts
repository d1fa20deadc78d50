import type Anthropic from '@anthropic-ai/sdk';

/** JSON values as stored in jsonb columns. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A content block as the Messages API accepts it in a request (text, image, document, tool_use, ...). */
export type ContentBlockParam = Anthropic.ContentBlockParam;

// Agents ------------------------------------------------------------------------------------------

/** What defines an agent. Names reach Claude as tool names when another agent delegates to this one. */
export interface AgentDefinition {
  /** `^[a-zA-Z0-9_-]{1,64}$`. Unique together with `metadata` (the tenant key). */
  name: string;
  description?: string;
  /** Any model id the API accepts; agentpg hard-codes none. */
  model: string;
  systemPrompt?: string;
  /** Names of tools this agent may call. They must be registered on some client to run. */
  tools?: string[];
  /** Agents this agent may delegate to; each is offered to the model as a tool. */
  agentIds?: string[];
  /** Per-response token limit; the client's `defaultMaxTokens` when absent. */
  maxTokens?: number | null;
  /** Tenant and application data. Part of the agent's identity: `getAgentByName` matches it exactly. */
  metadata?: JsonObject;
  /** Free-form settings kept with the agent. */
  config?: JsonObject;
}

export interface Agent {
  id: string;
  name: string;
  description: string;
  model: string;
  systemPrompt: string;
  tools: string[];
  agentIds: string[];
  maxTokens: number | null;
  metadata: JsonObject;
  config: JsonObject;
  createdAt: Date;
  updatedAt: Date;
}

/** Fields of an agent to change; absent fields keep their value. `maxTokens: null` clears it. */
export type AgentPatch = Partial<Omit<AgentDefinition, 'name'>> & { name?: string };

// Sessions ----------------------------------------------------------------------------------------

export interface Session {
  id: string;
  parentSessionId: string | null;
  depth: number;
  metadata: JsonObject;
  compactionCount: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewSessionOptions {
  parentSessionId?: string | null;
  metadata?: JsonObject;
}

// Messages ----------------------------------------------------------------------------------------

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

export interface Message {
  id: string;
  sessionId: string;
  runId: string | null;
  role: 'user' | 'assistant';
  /** Blocks exactly as the API sent or accepts them. */
  content: ContentBlockParam[];
  usage: Usage | null;
  isPreserved: boolean;
  isSummary: boolean;
  metadata: JsonObject;
  createdAt: Date;
}

// Lists -------------------------------------------------------------------------------------------

export interface Page<T> {
  items: T[];
  /** Number of rows matching the filter, ignoring limit and offset. */
  total: number;
}

export interface ListAgentsOptions {
  /** Agents whose metadata contains these keys and values (JSON containment). */
  metadata?: JsonObject;
  limit?: number;
  offset?: number;
}

export interface ListSessionsOptions {
  metadata?: JsonObject;
  limit?: number;
  offset?: number;
  /** Default `created_desc`. */
  order?: 'created_desc' | 'created_asc' | 'updated_desc' | 'updated_asc';
}

export interface GetSessionMessagesOptions {
  /** At most this many messages, the latest ones, returned oldest first. Default: all. */
  limit?: number;
  /** Only messages older than this message id (for paging backwards). */
  before?: string;
}

// Runs --------------------------------------------------------------------------------------------

export type RunMode = 'batch' | 'streaming';
export type RunState =
  | 'pending'
  | 'batch_submitting'
  | 'batch_pending'
  | 'streaming'
  | 'pending_tools'
  | 'completed'
  | 'cancelled'
  | 'failed';
export type IterationState = 'pending' | 'submitting' | 'in_batch' | 'streaming' | 'completed' | 'failed' | 'cancelled';
export type ToolExecutionState = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'discarded' | 'skipped';

/** A prompt: plain text, or content blocks (text, image, document). */
export type Prompt = string | ContentBlockParam[];

export interface RunOptions {
  /** Values handed to every tool of the run (and of its child runs) as `ctx.variables`, types preserved. */
  variables?: JsonObject;
  /** Model calls allowed before the run fails as a runaway loop. Default: the client's `defaultMaxIterations`. */
  maxIterations?: number;
  /** Your own data, kept on the run. */
  metadata?: JsonObject;
  /** Replaces the agent's system prompt for this run. */
  overrideInstructions?: string;
  /** Appended to the system prompt (after a blank line) for this run. */
  appendInstructions?: string;
  /** A second `run` with the same key returns the first run's id instead of starting another. */
  idempotencyKey?: string;
}

export interface Run {
  id: string;
  sessionId: string;
  agentId: string;
  mode: RunMode;
  parentRunId: string | null;
  parentToolExecutionId: string | null;
  depth: number;
  state: RunState;
  prompt: ContentBlockParam[];
  variables: JsonObject;
  metadata: JsonObject;
  maxIterations: number;
  overrideInstructions: string | null;
  appendInstructions: string | null;
  currentIteration: number;
  responseText: string | null;
  stopReason: string | null;
  usage: Usage;
  iterationCount: number;
  toolIterations: number;
  /** Stable error code when failed (e.g. `max_iterations`, `invalid_request`, `max_tokens`). */
  errorType: string | null;
  errorMessage: string | null;
  idempotencyKey: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finalizedAt: Date | null;
  /**
   * Set while the run waits on work that no live instance can take (a tool call for a tool no running client has
   * registered); null otherwise. Such a run fails with `tool_unavailable` after `unclaimedToolTimeoutMs`.
   */
  blocked: RunBlock | null;
}

/** Why a run cannot make progress right now (see {@link Run.blocked}). */
export interface RunBlock {
  /** `tool_unavailable`: a tool call waits for a tool that no live instance has registered. */
  reason: 'tool_unavailable';
  /** The tools nobody can run. */
  tools: string[];
  /** When the first of these calls was seen unclaimable. */
  since: Date;
  /** A sentence for people. */
  message: string;
}

export interface Iteration {
  id: string;
  runId: string;
  /** 1, 2, 3, ... */
  index: number;
  mode: RunMode;
  state: IterationState;
  triggerType: 'prompt' | 'tool_results' | 'continuation';
  attempt: number;
  batchId: string | null;
  anthropicBatchId: string | null;
  stopReason: string | null;
  hasToolUse: boolean;
  toolExecutionCount: number;
  usage: Usage;
  errorType: string | null;
  errorMessage: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

export interface ToolExecution {
  id: string;
  runId: string;
  iterationId: string;
  toolUseId: string;
  toolName: string;
  input: JsonValue;
  state: ToolExecutionState;
  isAgentTool: boolean;
  childRunId: string | null;
  /** What the model received: text, blocks, or JSON. */
  output: JsonValue | null;
  isError: boolean;
  errorMessage: string | null;
  attempt: number;
  maxAttempts: number;
  snoozeCount: number;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** One tool call as reported in a {@link RunResponse}. */
export interface ToolCall {
  toolUseId: string;
  name: string;
  input: JsonValue;
  output: JsonValue | null;
  isError: boolean;
  error: string | null;
  state: ToolExecutionState;
  iteration: number;
  attempts: number;
  /** From first start to completion, in milliseconds (null when it never ran). */
  durationMs: number | null;
}

/** What `runSync` / `waitForRun` return for a completed run. */
export interface RunResponse {
  runId: string;
  /** Text of the final assistant message. */
  text: string;
  stopReason: string | null;
  /** The run's own messages, prompt first. */
  messages: Message[];
  toolCalls: ToolCall[];
  iterationCount: number;
  usage: Usage;
}

export interface ListRunsOptions {
  sessionId?: string;
  agentId?: string;
  state?: RunState | RunState[];
  limit?: number;
  offset?: number;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Give up (WaitTimeoutError) after this long. Default: wait forever. */
  timeoutMs?: number;
}

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

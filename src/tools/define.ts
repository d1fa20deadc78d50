import { z } from 'zod';
import AjvModule from 'ajv';
import type { ErrorObject } from 'ajv';
import { ValidationError } from '../errors.js';
import type { ContentBlockParam, JsonObject } from '../types.js';
import { TOOL_NAME } from '../validation.js';

/** Everything a tool learns about the call it is serving. */
export interface ToolContext {
  runId: string;
  sessionId: string;
  agentId: string;
  iterationId: string;
  /** The model's id for this call (`toolu_...`). */
  toolUseId: string;
  /** The tool execution row's id: stable across retries, use it as an idempotency key for side effects. */
  executionId: string;
  /** 1 on the first try, then 2, 3, ... (snoozes do not count). */
  attempt: number;
  /** The run's variables, with the JSON types the caller gave (a number stays a number). */
  variables: JsonObject;
  /** Aborted when the tool times out, the run is cancelled or the client stops. */
  signal: AbortSignal;
}

/** What a tool returns: text, content blocks (text and images), or any JSON value (sent as JSON text). */
export type ToolOutput = string | ContentBlockParam[] | JsonObject | unknown[] | number | boolean | null;

/** A JSON Schema object describing the tool's input, as Claude receives it. */
export type JsonSchema = Record<string, unknown> & { type: 'object' };

export type ToolInputCheck<I> = { ok: true; value: I } | { ok: false; issues: { path: string; message: string }[] };

/** A tool, as registered on a client with `registerTool`. Build one with {@link defineTool}. */
export interface Tool<I = unknown> {
  readonly name: string;
  readonly description: string;
  /** The full schema sent to Claude. */
  readonly inputSchema: JsonSchema;
  /** Per-call time limit; the client's `toolTimeoutMs` when absent. */
  readonly timeoutMs?: number;
  /** Attempts before a failing call becomes an error tool_result; the client's retry policy when absent. */
  readonly maxAttempts?: number;
  validate(input: unknown): ToolInputCheck<I>;
  execute(input: I, ctx: ToolContext): Promise<ToolOutput> | ToolOutput;
}

interface ToolSpecBase {
  name: string;
  description: string;
  timeoutMs?: number;
  maxAttempts?: number;
}

/** Tool with a zod schema: the input type is inferred, and the JSON Schema is generated from it. */
export function defineTool<S extends z.ZodType<Record<string, unknown>>>(
  spec: ToolSpecBase & { input: S; execute: (input: z.output<S>, ctx: ToolContext) => Promise<ToolOutput> | ToolOutput },
): Tool<z.output<S>>;
/** Tool with a plain JSON Schema object; input is validated with Ajv and typed as `I` (default `unknown`). */
export function defineTool<I = Record<string, unknown>>(
  spec: ToolSpecBase & { input: JsonSchema; execute: (input: I, ctx: ToolContext) => Promise<ToolOutput> | ToolOutput },
): Tool<I>;
export function defineTool(
  spec: ToolSpecBase & { input: z.ZodType | JsonSchema; execute: (input: never, ctx: ToolContext) => unknown },
): Tool<unknown> {
  if (!spec || typeof spec !== 'object') throw new ValidationError('defineTool needs a spec object');
  if (typeof spec.name !== 'string' || !TOOL_NAME.test(spec.name)) {
    throw new ValidationError(`tool name must match ^[a-zA-Z0-9_-]{1,64}$, got ${JSON.stringify(spec.name)}`);
  }
  if (typeof spec.description !== 'string') throw new ValidationError(`tool "${spec.name}" needs a description string`);
  if (typeof spec.execute !== 'function') throw new ValidationError(`tool "${spec.name}" needs an execute function`);
  for (const key of ['timeoutMs', 'maxAttempts'] as const) {
    const v = spec[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      throw new ValidationError(`tool "${spec.name}": ${key} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  const { inputSchema, validate } = spec.input instanceof z.ZodType ? fromZod(spec.name, spec.input) : fromJsonSchema(spec.name, spec.input);
  return {
    name: spec.name,
    description: spec.description,
    inputSchema,
    ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    ...(spec.maxAttempts !== undefined ? { maxAttempts: spec.maxAttempts } : {}),
    validate,
    execute: spec.execute as Tool['execute'],
  };
}

function fromZod(name: string, schema: z.ZodType): { inputSchema: JsonSchema; validate: Tool['validate'] } {
  let generated: Record<string, unknown>;
  try {
    generated = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>;
  } catch (err) {
    throw new ValidationError(`tool "${name}": its zod schema cannot be expressed as JSON Schema: ${(err as Error).message}`);
  }
  const { $schema: _ignored, ...inputSchema } = generated;
  if (inputSchema.type !== 'object') {
    throw new ValidationError(`tool "${name}": input must be a zod object schema (Claude tool input is a JSON object)`);
  }
  return {
    inputSchema: inputSchema as JsonSchema,
    validate(input) {
      const r = schema.safeParse(input);
      if (r.success) return { ok: true, value: r.data };
      return { ok: false, issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) };
    },
  };
}

// Ajv ships CommonJS; its default export is the class under ESM interop.
const Ajv = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as typeof AjvModule.default;
const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: true });

function fromJsonSchema(name: string, schema: JsonSchema): { inputSchema: JsonSchema; validate: Tool['validate'] } {
  if (!schema || typeof schema !== 'object' || schema.type !== 'object') {
    throw new ValidationError(`tool "${name}": input must be a zod schema or a JSON Schema with type "object"`);
  }
  let check: ReturnType<typeof ajv.compile>;
  try {
    const { $schema: _ignored, ...rest } = schema;
    check = ajv.compile(rest);
  } catch (err) {
    throw new ValidationError(`tool "${name}": invalid JSON Schema: ${(err as Error).message}`);
  }
  return {
    inputSchema: schema,
    validate(input) {
      if (check(input)) return { ok: true, value: input };
      return { ok: false, issues: (check.errors ?? []).map(ajvIssue) };
    },
  };
}

function ajvIssue(e: ErrorObject): { path: string; message: string } {
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const missing = e.keyword === 'required' ? (e.params as { missingProperty?: string }).missingProperty : undefined;
  return { path: missing ? (path ? `${path}.${missing}` : missing) : path, message: e.message ?? e.keyword };
}

import { z } from 'zod';
import { ValidationError } from './errors.js';
import type { JsonObject } from './types.js';

/** The API's tool-name rule; agent names and tool names both reach Claude as tool names. */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Turns a zod failure into one ValidationError naming every bad field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new ValidationError(
    `invalid ${what}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`,
    { issues },
  );
}

export function assertUuid(value: unknown, what: string): string {
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw new ValidationError(`${what} must be a UUID, got ${JSON.stringify(value)}`);
  }
  return value.toLowerCase();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** True when `v` survives JSON encoding unchanged (no functions, Dates, NaN, class instances, cycles). */
function isJsonValue(v: unknown, seen = new Set<object>()): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object') return false;
  if (seen.has(v)) return false;
  seen.add(v);
  const ok = Array.isArray(v)
    ? v.every((x) => isJsonValue(x, seen))
    : isPlainObject(v) && Object.values(v).every((x) => isJsonValue(x, seen));
  seen.delete(v);
  return ok;
}

/** A JSON object (metadata, variables, config): plain, finite, acyclic. */
export const jsonObject = z.custom<JsonObject>((v) => isPlainObject(v) && isJsonValue(v), {
  message: 'must be a plain JSON object (string keys; values: string, finite number, boolean, null, arrays, objects)',
});

export const toolName = z.string().regex(TOOL_NAME, 'must match ^[a-zA-Z0-9_-]{1,64}$ (it reaches Claude as a tool name)');
export const uuid = z.string().regex(UUID, 'must be a UUID');
const positiveInt = z.number().int().positive();

export const agentDefinition = z.strictObject({
  name: toolName,
  description: z.string().max(10_000).optional(),
  model: z.string().min(1).max(256),
  systemPrompt: z.string().optional(),
  tools: z.array(toolName).optional(),
  agentIds: z.array(uuid).optional(),
  maxTokens: positiveInt.nullable().optional(),
  metadata: jsonObject.optional(),
  config: jsonObject.optional(),
});

export const agentPatch = agentDefinition.partial();

export const listOptions = z.strictObject({
  metadata: jsonObject.optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  offset: z.number().int().min(0).optional(),
});

export const listSessionsOptions = listOptions.extend({
  order: z.enum(['created_desc', 'created_asc', 'updated_desc', 'updated_asc']).optional(),
});

export const newSessionOptions = z.strictObject({
  parentSessionId: uuid.nullable().optional(),
  metadata: jsonObject.optional(),
});

export const sessionPatch = z.strictObject({
  metadata: jsonObject.optional(),
});

export const sessionMessagesOptions = z.strictObject({
  limit: z.number().int().min(1).max(100_000).optional(),
  before: uuid.optional(),
});

const RUN_STATES = ['pending', 'batch_submitting', 'batch_pending', 'streaming', 'pending_tools', 'completed', 'cancelled', 'failed'] as const;

export const listRunsOptions = z.strictObject({
  sessionId: uuid.optional(),
  agentId: uuid.optional(),
  state: z.union([z.enum(RUN_STATES), z.array(z.enum(RUN_STATES)).min(1)]).optional(),
  limit: z.number().int().min(1).max(1000).optional(),
  offset: z.number().int().min(0).optional(),
});

const userBlock = z.looseObject({ type: z.enum(['text', 'image', 'document']) }).superRefine((b, ctx) => {
  if (b.type === 'text' && (typeof b.text !== 'string' || b.text.length === 0)) {
    ctx.addIssue({ code: 'custom', message: 'a text block needs non-empty `text`' });
  }
  if ((b.type === 'image' || b.type === 'document') && (typeof b.source !== 'object' || b.source === null)) {
    ctx.addIssue({ code: 'custom', message: `an ${b.type} block needs a \`source\`` });
  }
});

/** A prompt: non-empty text, or text/image/document blocks as the Messages API takes them. */
export const prompt = z.union([
  z.string().min(1, 'the prompt is empty'),
  z.array(userBlock).min(1, 'the prompt has no blocks'),
]) as unknown as z.ZodType<string | import('./types.js').ContentBlockParam[]>;

export const runOptions = z.strictObject({
  variables: jsonObject.optional(),
  maxIterations: z.number().int().min(1).max(10_000).optional(),
  metadata: jsonObject.optional(),
  overrideInstructions: z.string().optional(),
  appendInstructions: z.string().optional(),
  idempotencyKey: z.string().min(1).max(255).optional(),
});

/** JSON text for a `$n::jsonb` parameter. */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

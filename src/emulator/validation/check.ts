import { invalidRequest } from '../errors.js';

/** Small type checks that throw the API's pydantic-style 400s (`<path>: Input should be ...`). */

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function fail(path: string, message: string): never {
  throw invalidRequest(path ? `${path}: ${message}` : message);
}

export function required(obj: Json, field: string, path = field): unknown {
  if (!(field in obj) || obj[field] === undefined) fail(path, 'Field required');
  return obj[field];
}

export function expectObject(v: unknown, path: string): Json {
  if (!isObject(v)) fail(path, 'Input should be a valid dictionary');
  return v;
}

export function expectArray(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'Input should be a valid list');
  return v;
}

export function expectString(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'Input should be a valid string');
  return v;
}

export function expectBoolean(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'Input should be a valid boolean');
  return v;
}

export function expectNumber(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'Input should be a valid number');
  return v;
}

export function expectInteger(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, 'Input should be a valid integer');
  return v;
}

export function expectLiteral<T extends string>(v: unknown, allowed: readonly T[], path: string): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    const list = allowed.map((a) => `'${a}'`);
    const text = list.length > 1 ? `${list.slice(0, -1).join(', ')} or ${list.at(-1)}` : list[0];
    fail(path, `Input should be ${text}`);
  }
  return v as T;
}

export function expectPattern(v: unknown, pattern: RegExp, path: string): string {
  const s = expectString(v, path);
  if (!pattern.test(s)) fail(path, `String should match pattern '${pattern.source}'`);
  return s;
}

/** Rejects fields outside `allowed`, the way the API's strict schemas do. */
export function noExtraFields(obj: Json, allowed: ReadonlySet<string>, prefix = ''): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.has(key)) fail(prefix ? `${prefix}.${key}` : key, 'Extra inputs are not permitted');
  }
}

/** Validates a `cache_control` value and counts it. */
export function checkCacheControl(v: unknown, path: string, seen: { count: number; ttls: string[] }): void {
  if (v === undefined || v === null) return;
  const cc = expectObject(v, path);
  expectLiteral(cc.type, ['ephemeral'], `${path}.type`);
  if (cc.ttl !== undefined && cc.ttl !== null) expectLiteral(cc.ttl, ['5m', '1h'], `${path}.ttl`);
  seen.count++;
  seen.ttls.push(cc.ttl === '1h' ? '1h' : '5m');
}

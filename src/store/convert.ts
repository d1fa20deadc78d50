/** int8/numeric columns arrive as string, number or bigint depending on the driver. */
export function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v);
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

export function date(v: unknown): Date {
  return v instanceof Date ? v : new Date(String(v));
}

export function dateOrNull(v: unknown): Date | null {
  return v === null || v === undefined ? null : date(v);
}

/** jsonb arrives parsed from every driver (the driver contract); this only names the expected type. */
export function jsonb<T>(v: unknown): T {
  return v as T;
}

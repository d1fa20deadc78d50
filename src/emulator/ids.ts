import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Prefixes of the identifiers the API hands out. */
export type IdPrefix = 'msg' | 'toolu' | 'msgbatch' | 'req' | 'srvtoolu';

/**
 * A new identifier in the documented shape: `<prefix>_` + 24 base62 characters.
 * Real ids start with "01" (a version marker), so ours do too; code that sniffs ids keeps working.
 */
export function newId(prefix: IdPrefix): string {
  const bytes = randomBytes(22);
  let out = '01';
  // 256 % 62 leaves a slight bias; irrelevant for ids that only need to be unique and well-formed.
  for (const b of bytes) out += BASE62[b % 62];
  return `${prefix}_${out}`;
}

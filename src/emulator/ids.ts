import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Prefixes of the identifiers the API hands out. */
export type IdPrefix = 'msg' | 'toolu' | 'msgbatch' | 'req' | 'srvtoolu';

// Random bytes drawn in bulk: one call to the system per ~180 ids instead of one per id (several per request).
const ID_BYTES = 22;
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = 0;

/**
 * A new identifier in the documented shape: `<prefix>_` + 24 base62 characters.
 * Real ids start with "01" (a version marker), so ours do too; code that sniffs ids keeps working.
 */
export function newId(prefix: IdPrefix): string {
  if (used + ID_BYTES > pool.length) {
    pool = randomBytes(POOL_BYTES);
    used = 0;
  }
  let out = '01';
  // 256 % 62 leaves a slight bias; irrelevant for ids that only need to be unique and well-formed.
  for (let i = used; i < used + ID_BYTES; i++) out += BASE62[pool[i]! % 62];
  used += ID_BYTES;
  return `${prefix}_${out}`;
}


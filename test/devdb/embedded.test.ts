import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
const CHECK = fileURLToPath(new URL('./embedded-check.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;

function hasUser(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('embedded PostgreSQL', () => {
  it('starts, answers and cleans up as the current user', () => {
    const out = execFileSync(process.execPath, [TSX, CHECK], { encoding: 'utf8', timeout: 60_000 });
    expect(out).toMatch(/^OK \d+/m);
  }, 70_000);

  // As root the server runs as the `postgres` system user; the line above covers that. This one covers a
  // plain user, the way a developer's machine runs it.
  it.skipIf(!isRoot || !hasUser('nobody'))('starts as a normal (non-root) user', () => {
    const out = execFileSync('runuser', ['-u', 'nobody', '--', 'env', 'HOME=/tmp', process.execPath, TSX, CHECK], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out).toMatch(/^OK \d+/m);
  }, 70_000);
});

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

describe('docs stay true to the code', () => {
  it('configuration.md documents every option of the config, with its default', () => {
    const doc = read('docs/configuration.md');
    const fakeDriver = { query() {}, transaction() {}, fromTx() {}, connectListener() {}, close() {}, name: 'fake' };
    const resolved = resolveConfig({ driver: fakeDriver }, {}) as unknown as Record<string, unknown>;
    const keys: string[] = [];
    for (const [k, v] of Object.entries(resolved)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && (k === 'batch' || k === 'toolRetry')) {
        for (const sub of Object.keys(v)) keys.push(`${k}.${sub}`);
      } else keys.push(k);
    }
    const rows = new Map(doc.split('\n').filter((l) => l.startsWith('| `')).map((l) => [/^\| `([^`]+)`/.exec(l)![1]!, l]));
    const missing = keys.filter((k) => !rows.has(k));
    expect(missing).toEqual([]);
    // Numeric defaults appear in their row as written in the code.
    for (const k of keys) {
      const [a, b] = k.split('.') as [string, string | undefined];
      const v = b ? (resolved[a] as Record<string, unknown>)[b] : resolved[a];
      if (typeof v !== 'number' || k === 'instanceTtlMs') continue;
      expect(rows.get(k), k).toContain(`\`${v}\``);
    }
  });

  it('relative links in README, docs/ and examples/README.md point to files that exist', () => {
    const files = ['README.md', 'examples/README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const f of files) {
      for (const m of read(f).replace(/`[^`\n]*`/g, "").matchAll(/\]\(([^)]+)\)/g)) {
        const target = m[1]!.split('#')[0]!;
        if (!target || /^[a-z]+:/.test(target)) continue;
        if (!existsSync(resolve(ROOT, dirname(f), target))) broken.push(`${f}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

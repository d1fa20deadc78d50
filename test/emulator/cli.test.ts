import Anthropic from '@anthropic-ai/sdk';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MODEL } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('agentpg emulator (CLI)', () => {
  it('prints its URL, serves the API, and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'emulator', '--port', '0', '--api-key', 'cli-key', '--batch-latency-ms', '0'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed within 20 s; stderr: ${err}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}; stderr: ${err}`)));
      });
      const client = new Anthropic({ apiKey: 'cli-key', baseURL: url });
      await expect(client.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'What is 3*3?' }] })).resolves.toMatchObject({
        content: [{ type: 'text', text: '9' }],
      });
      await expect(new Anthropic({ apiKey: 'other', baseURL: url, maxRetries: 0 }).messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
        Anthropic.AuthenticationError,
      );
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
      expect(out).toContain('emulator stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('rejects a bad option with a helpful error', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'emulator', '--port', 'abc'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
    expect(err).toContain('--port must be a non-negative integer');
  });
});

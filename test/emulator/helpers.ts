import Anthropic, { type ClientOptions } from '@anthropic-ai/sdk';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Emulator } from '../../src/emulator/index.js';

export const MODEL = 'claude-haiku-5-5';
export const API_KEY = 'sk-emulator-test';

/** An SDK client pointed at the emulator; retries are fast unless a test asks otherwise. */
export function sdk(emu: Emulator, options: ClientOptions = {}): Anthropic {
  return new Anthropic({ apiKey: API_KEY, baseURL: emu.url, ...options });
}

/** Polls `probe` until it returns a non-undefined value, failing after `timeoutMs`. */
export async function waitUntil<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until the batch has ended, polling through the SDK as a client would. */
export async function waitForEnd(client: Anthropic, id: string, timeoutMs = 10_000) {
  return waitUntil(
    async () => {
      const b = await client.messages.batches.retrieve(id);
      return b.processing_status === 'ended' ? b : undefined;
    },
    timeoutMs,
    `batch ${id} to end`,
  );
}

/** Raw fetch with the headers the SDK would send. */
export function rawFetch(emu: Emulator, path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  return fetch(`${emu.url}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      'anthropic-version': '2026-10-21',
      'content-type': 'application/json',
      ...init.headers,
    },
  });
}

export const weatherTool = {
  name: 'get_weather',
  description: 'Get the current weather for a city',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
    required: ['city', 'unit'],
  },
};

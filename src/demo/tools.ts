import { z } from 'zod';
import { defineTool } from '../tools/define.js';
import type { Tool } from '../tools/define.js';

/**
 * The demo's tools. Their data is made up (deterministic, so the output is stable); each pauses a little, as a
 * call to a real service would, which lets the two workers share the calls.
 */

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });

function pick<T>(key: string, list: readonly T[]): T {
  let h = 0;
  for (const ch of key.toLowerCase()) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return list[h % list.length]!;
}

const CONDITIONS = ['sunny', 'partly cloudy', 'light rain', 'clear skies', 'windy'] as const;

export const getWeather = defineTool({
  name: 'get_weather',
  description: 'Get the current weather for a city',
  input: z.object({ city: z.string().describe('City name, e.g. Paris') }),
  execute: async ({ city }, ctx) => {
    await pause(250, ctx.signal);
    const temp = 8 + (city.length * 7) % 20;
    return `${city}: ${pick(city, CONDITIONS)}, ${temp}°C`;
  },
});

const PER_USD: Record<string, number> = { USD: 1, EUR: 0.92, GBP: 0.79, JPY: 151.2, CHF: 0.88 };

export const convertCurrency = defineTool({
  name: 'convert_currency',
  description: 'Convert an amount of money from one currency to another',
  input: z.object({
    amount: z.number().describe('The amount to convert'),
    from: z.string().describe('ISO code of the source currency, e.g. USD'),
    to: z.string().describe('ISO code of the target currency, e.g. EUR'),
  }),
  execute: async ({ amount, from, to }, ctx) => {
    await pause(200, ctx.signal);
    const a = PER_USD[from.toUpperCase()];
    const b = PER_USD[to.toUpperCase()];
    if (a === undefined || b === undefined) throw new Error(`no exchange rate for ${from} → ${to}`);
    return `${amount} ${from.toUpperCase()} = ${((amount / a) * b).toFixed(2)} ${to.toUpperCase()}`;
  },
});

export const searchFlights = defineTool({
  name: 'search_flights',
  description: 'Search flights to a destination city',
  input: z.object({ destination: z.string().describe('Destination city') }),
  execute: async ({ destination }, ctx) => {
    await pause(300, ctx.signal);
    const price = 180 + (destination.length * 53) % 400;
    return `3 flights to ${destination}, from $${price} round trip`;
  },
});

/** The tools each worker registers: search_flights only on worker-b, to show that tool code lives in processes. */
export function toolsFor(worker: 'worker-a' | 'worker-b'): Tool<any>[] {
  return worker === 'worker-a' ? [getWeather, convertCurrency] : [getWeather, convertCurrency, searchFlights];
}

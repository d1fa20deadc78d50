import { describe, expect, it } from 'vitest';
import { defaultResponder } from '../../src/emulator/index.js';
import type { MessageRequest, ResponderContext, ResponderResult } from '../../src/emulator/index.js';
import { answerArithmetic } from '../../src/emulator/responder/arithmetic.js';
import { inputFromSchema } from '../../src/emulator/responder/schema-input.js';
import { MODEL, weatherTool } from './helpers.js';

const ctx: ResponderContext = {
  source: 'messages',
  stream: false,
  requestId: 'req_x',
  apiVersion: '2026-10-21',
  defaultResponder,
};

const ask = (req: Partial<MessageRequest> & { messages: MessageRequest['messages'] }) =>
  defaultResponder({ model: MODEL, max_tokens: 1000, ...req }, ctx) as ResponderResult;

const researcher = {
  name: 'researcher',
  description: 'An agent that researches topics',
  input_schema: { type: 'object' as const, properties: { task: { type: 'string' } }, required: ['task'] },
};

describe('default responder', () => {
  it('echoes plain text and does arithmetic', () => {
    expect(ask({ messages: [{ role: 'user', content: 'Hello there' }] }).content).toEqual([{ type: 'text', text: 'You said: Hello there' }]);
    expect(ask({ messages: [{ role: 'user', content: 'What is 2+2?' }] }).content).toEqual([{ type: 'text', text: '4' }]);
    expect(answerArithmetic('what is (3 + 4) * 5')).toBe('35');
    expect(answerArithmetic('12 divided by 4')).toBe('3');
    expect(answerArithmetic('meeting on 2024-11-05')).toBeUndefined();
    expect(answerArithmetic('no numbers here')).toBeUndefined();
  });

  it('calls the tool the user asks for, with input built from the schema', () => {
    const r = ask({ tools: [weatherTool], messages: [{ role: 'user', content: "What's the weather in Paris, in fahrenheit?" }] });
    expect(r.stop_reason).toBe('tool_use');
    expect(r.content).toEqual([{ type: 'tool_use', name: 'get_weather', input: { city: 'Paris', unit: 'fahrenheit' } }]);
  });

  it('does not call unrelated tools', () => {
    const r = ask({ tools: [weatherTool], messages: [{ role: 'user', content: 'Tell me a joke' }] });
    expect(r.stop_reason).toBe('end_turn');
  });

  it('calls several matching tools in parallel, unless parallel use is disabled', () => {
    const stock = {
      name: 'get_stock_price',
      description: 'Look up the stock price of a ticker',
      input_schema: { type: 'object' as const, properties: { ticker: { type: 'string' } }, required: ['ticker'] },
    };
    const text = 'What is the weather in Oslo and the stock price of ACME?';
    const r = ask({ tools: [weatherTool, stock], messages: [{ role: 'user', content: text }] });
    expect(r.content.map((b) => (b.type === 'tool_use' ? b.name : b.type))).toEqual(['get_weather', 'get_stock_price']);
    const one = ask({
      tools: [weatherTool, stock],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      messages: [{ role: 'user', content: text }],
    });
    expect(one.content).toHaveLength(1);
  });

  it('honours tool_choice none, any and tool', () => {
    const messages: MessageRequest['messages'] = [{ role: 'user', content: 'Tell me a joke about Rome' }];
    expect(ask({ tools: [weatherTool], tool_choice: { type: 'none' }, messages }).stop_reason).toBe('end_turn');
    expect(ask({ tools: [weatherTool], tool_choice: { type: 'any' }, messages }).content[0]).toMatchObject({ name: 'get_weather', input: { city: 'Rome' } });
    expect(ask({ tools: [weatherTool, researcher], tool_choice: { type: 'tool', name: 'researcher' }, messages }).content[0]).toMatchObject({
      name: 'researcher',
    });
  });

  it('delegates to an agent tool named in the text, with the whole text as task', () => {
    const text = 'Ask researcher to find the population of Lyon';
    const r = ask({ tools: [weatherTool, researcher], messages: [{ role: 'user', content: text }] });
    expect(r.content).toEqual([{ type: 'tool_use', name: 'researcher', input: { task: text } }]);
    // Description words alone do not trigger an agent: only its name does.
    expect(ask({ tools: [researcher], messages: [{ role: 'user', content: 'research topics please' }] }).stop_reason).toBe('end_turn');
  });

  it('answers from tool results, and says so when a tool failed', () => {
    const messages: MessageRequest['messages'] = [
      { role: 'user', content: 'weather in Paris and Oslo' },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Oslo' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny, 21°C' },
          { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'station offline' }], is_error: true },
        ],
      },
    ];
    const r = ask({ tools: [weatherTool], messages });
    expect(r.stop_reason).toBe('end_turn');
    expect(r.content).toEqual([
      { type: 'text', text: 'get_weather returned: Sunny, 21°C\nThe get_weather tool reported an error: station offline' },
    ]);
  });

  it('adds a thinking block when thinking is on', () => {
    const r = ask({ thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.content[0]).toMatchObject({ type: 'thinking' });
  });
});

describe('inputFromSchema', () => {
  it('fills required properties by type', () => {
    const schema = {
      type: 'object',
      properties: {
        query: { type: 'string' },
        count: { type: 'integer', minimum: 1, maximum: 10 },
        ratio: { type: 'number' },
        exact: { type: 'boolean' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1 },
        filter: { type: 'object', properties: { lang: { type: 'string', enum: ['en', 'fr'] } }, required: ['lang'] },
        optional: { type: 'string' },
      },
      required: ['query', 'count', 'ratio', 'exact', 'tags', 'filter'],
    };
    const input = inputFromSchema(schema, 'Search "durable agents" and show 25 results with ratio 0.5 in fr');
    expect(input).toEqual({ query: 'durable agents', count: 10, ratio: 0.5, exact: false, tags: ['Search'], filter: { lang: 'fr' } });
  });

  it('uses the rest of the text when nothing stands out', () => {
    expect(inputFromSchema({ type: 'object', properties: { q: { type: 'string' } }, required: ['q'] }, 'search the docs for retry policy')).toEqual({
      q: 'retry policy',
    });
    expect(inputFromSchema({ type: 'object', properties: { url: { type: 'string' } }, required: ['url'] }, 'fetch https://example.com/a, please')).toEqual({
      url: 'https://example.com/a',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { classifyResponse } from '../../src/engine/apply-response.js';
import { historyProblems, mergeTurns, trimPrefill } from '../../src/claude/history.js';
import { retryDelayMs } from '../../src/engine/backoff.js';

const text = (t: string) => ({ type: 'text' as const, text: t, citations: null });
const use = (id: string) => ({ type: 'tool_use' as const, id, name: 'x', input: {} });

describe('classifyResponse', () => {
  const cont = { maxTokensBehavior: 'continue' as const };
  it('maps every stop reason', () => {
    expect(classifyResponse({ stop_reason: 'end_turn', content: [text('a')] } as never, cont)).toEqual({ kind: 'complete' });
    expect(classifyResponse({ stop_reason: 'stop_sequence', content: [text('a')] } as never, cont)).toEqual({ kind: 'complete' });
    expect(classifyResponse({ stop_reason: 'refusal', content: [] } as never, cont)).toEqual({ kind: 'complete' });
    expect(classifyResponse({ stop_reason: 'tool_use', content: [text('a'), use('t1'), use('t2')] } as never, cont)).toEqual({
      kind: 'tools',
      uses: [
        { index: 1, id: 't1', name: 'x', input: {} },
        { index: 2, id: 't2', name: 'x', input: {} },
      ],
    });
    expect(classifyResponse({ stop_reason: 'pause_turn', content: [] } as never, cont)).toEqual({ kind: 'continue' });
    expect(classifyResponse({ stop_reason: 'max_tokens', content: [text('a')] } as never, cont)).toEqual({ kind: 'continue' });
    expect(classifyResponse({ stop_reason: 'max_tokens', content: [use('t1')] } as never, cont).kind).toBe('skip_tools');
    expect(classifyResponse({ stop_reason: 'max_tokens', content: [text('a')] } as never, { maxTokensBehavior: 'fail' })).toMatchObject({
      kind: 'fail',
      errorType: 'max_tokens',
    });
    expect(classifyResponse({ stop_reason: 'model_context_window_exceeded', content: [] } as never, cont)).toMatchObject({
      errorType: 'context_window_exceeded',
    });
    expect(classifyResponse({ stop_reason: 'something_new', content: [] } as never, cont)).toMatchObject({ errorType: 'unknown_stop_reason' });
  });
  it('never drops a tool_use, whatever the stop reason says', () => {
    expect(classifyResponse({ stop_reason: 'end_turn', content: [use('t1')] } as never, cont).kind).toBe('tools');
  });
});

describe('history', () => {
  it('merges consecutive turns of one role and drops empty ones', () => {
    expect(
      mergeTurns([
        { role: 'user', content: [text('a')] },
        { role: 'user', content: [] },
        { role: 'user', content: [text('b')] },
        { role: 'assistant', content: [text('c')] },
      ]),
    ).toEqual([
      { role: 'user', content: [text('a'), text('b')] },
      { role: 'assistant', content: [text('c')] },
    ]);
  });
  it('finds unpaired tool_use and orphan tool_result, as the API would', () => {
    const ok = [
      { role: 'user' as const, content: [text('q')] },
      { role: 'assistant' as const, content: [use('t1')] },
      { role: 'user' as const, content: [{ type: 'tool_result' as const, tool_use_id: 't1', content: 'r' }] },
    ];
    expect(historyProblems(ok)).toEqual([]);
    expect(historyProblems(ok.slice(0, 2).concat([{ role: 'user', content: [text('no result')] }]))[0]).toMatch(/without tool_result.*t1/);
    expect(historyProblems([ok[0]!, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'zz', content: 'r' }] }])).toHaveLength(1);
    expect(historyProblems([{ role: 'assistant', content: [text('hi')] }])[0]).toMatch(/does not start with a user message/);
    expect(historyProblems([])).toEqual(['the conversation is empty']);
  });
  it('trims trailing whitespace off a prefill, never off earlier turns', () => {
    expect(trimPrefill([{ role: 'user', content: [text('q ')] }, { role: 'assistant', content: [text('half, ')] }])).toEqual([
      { role: 'user', content: [text('q ')] },
      { role: 'assistant', content: [text('half,')] },
    ]);
    expect(trimPrefill([{ role: 'user', content: [text('q')] }, { role: 'assistant', content: [text('   ')] }])).toEqual([
      { role: 'user', content: [text('q')] },
    ]);
  });
});

describe('retryDelayMs', () => {
  const policy = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.2 };
  it('grows exponentially within the jitter band and stops at the cap', () => {
    expect(retryDelayMs(policy, 1, () => 0.5)).toBe(100);
    expect(retryDelayMs(policy, 2, () => 0.5)).toBe(200);
    expect(retryDelayMs(policy, 3, () => 0)).toBe(320);
    expect(retryDelayMs(policy, 3, () => 1)).toBe(480);
    expect(retryDelayMs(policy, 20, () => 1)).toBe(1000);
    expect(retryDelayMs({ ...policy, jitter: 0 }, 5, Math.random)).toBe(1000);
  });
});

import type { ContentBlockParam } from '../types.js';

type Turn = { role: 'user' | 'assistant'; content: ContentBlockParam[] };

/** Consecutive turns of one role become one turn, as the API would read them. */
export function mergeTurns(turns: readonly Turn[]): Turn[] {
  const out: Turn[] = [];
  for (const t of turns) {
    if (t.content.length === 0) continue;
    const last = out.at(-1);
    if (last && last.role === t.role) last.content = [...last.content, ...t.content];
    else out.push({ role: t.role, content: [...t.content] });
  }
  return out;
}

/**
 * Problems the API would reject with a 400, found before the call: the conversation must open with a user
 * turn, and every tool_use must be answered by a tool_result in the very next (user) turn, and only there.
 */
export function historyProblems(turns: readonly Turn[]): string[] {
  const problems: string[] = [];
  if (turns.length === 0) return ['the conversation is empty'];
  if (turns[0]!.role !== 'user') problems.push('the conversation does not start with a user message');
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i]!;
    const uses = turn.content.filter((b) => b.type === 'tool_use').map((b) => (b as { id: string }).id);
    const results = turn.content.filter((b) => b.type === 'tool_result').map((b) => (b as { tool_use_id: string }).tool_use_id);
    if (turn.role === 'assistant' && results.length > 0) problems.push(`messages.${i}: tool_result blocks in an assistant turn`);
    if (turn.role === 'user' && uses.length > 0) problems.push(`messages.${i}: tool_use blocks in a user turn`);
    if (turn.role === 'user' && results.length > 0) {
      const prev = i > 0 ? turns[i - 1]! : undefined;
      const prevUses = new Set(prev?.role === 'assistant' ? prev.content.filter((b) => b.type === 'tool_use').map((b) => (b as { id: string }).id) : []);
      const orphans = results.filter((id) => !prevUses.has(id));
      if (orphans.length > 0) problems.push(`messages.${i}: tool_result for unknown tool_use ids ${orphans.join(', ')}`);
    }
    if (uses.length > 0) {
      const next = turns[i + 1];
      // A final assistant turn with tool_use is a prefill the model continues; it never reaches us that way.
      const answered = new Set(next?.role === 'user' ? next.content.filter((b) => b.type === 'tool_result').map((b) => (b as { tool_use_id: string }).tool_use_id) : []);
      const missing = uses.filter((id) => !answered.has(id));
      if (missing.length > 0) {
        problems.push(`messages.${i}: tool_use ids were found without tool_result blocks immediately after: ${missing.join(', ')}`);
      }
    }
  }
  return problems;
}

/**
 * A conversation ending with an assistant turn asks the model to continue it (after max_tokens or
 * pause_turn). The API rejects such a prefill when its text ends in whitespace, so that is trimmed off the
 * request (the stored message keeps it).
 */
export function trimPrefill(turns: Turn[]): Turn[] {
  const last = turns.at(-1);
  if (!last || last.role !== 'assistant') return turns;
  const content = [...last.content];
  while (content.length > 0) {
    const b = content.at(-1)!;
    if (b.type !== 'text') break;
    const text = b.text.trimEnd();
    if (text.length > 0) {
      content[content.length - 1] = { ...b, text };
      break;
    }
    content.pop();
  }
  return content.length > 0 ? [...turns.slice(0, -1), { role: 'assistant', content }] : turns.slice(0, -1);
}

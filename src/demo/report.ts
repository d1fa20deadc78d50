import type { AgentPG } from '../client.js';
import { costOfCall, formatUsd, priceOf, sumCosts, type Cost } from '../claude/pricing.js';
import type { RunMode, Usage } from '../types.js';
import type { Progress } from './progress.js';

export interface DemoRun {
  label: string;
  runId: string;
  agent: string;
  mode: RunMode;
  prompt: string;
  text: string | null;
  error: string | null;
}

const n = (x: number) => x.toLocaleString('en-US');

function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Answers, who did what, and tokens with their cost at batch and at standard prices. */
export async function printReport(
  out: (line: string) => void,
  client: AgentPG,
  runs: DemoRun[],
  progress: Progress,
  model: string,
  emulated: boolean,
): Promise<void> {
  out('');
  out('Answers');
  for (const r of runs) {
    out(`  ${r.label.padEnd(3)} ${r.agent} (${r.mode === 'batch' ? 'batch' : 'fast'}): "${clip(r.prompt, 60)}"`);
    out(`      → ${r.error ? `failed: ${r.error}` : clip(r.text ?? '', 220)}`);
  }

  out('');
  out('Who did what');
  for (const [w, s] of [...progress.stats].sort(([x], [y]) => x.localeCompare(y))) {
    const tools = [...s.toolNames].map(([name, count]) => `${name} ×${count}`).join(', ');
    out(
      `  ${w}: submitted ${s.batchesSubmitted} batch${s.batchesSubmitted === 1 ? '' : 'es'} (${s.requestsSubmitted} request${s.requestsSubmitted === 1 ? '' : 's'}), ` +
        `applied ${s.batchResultsApplied} batch result${s.batchResultsApplied === 1 ? '' : 's'}, streamed ${s.streamedCalls} model call${s.streamedCalls === 1 ? '' : 's'}, ran ${s.toolCalls} tool call${s.toolCalls === 1 ? '' : 's'}${tools ? ` (${tools})` : ''}`,
    );
  }

  // Every model call of every run, children included, priced one by one (long-context tiers are per call).
  const all = await client.listRuns({ limit: 1000 });
  const perMode: Record<RunMode, { calls: number; usage: Usage; cost: Cost[] }> = {
    batch: { calls: 0, usage: emptyUsage(), cost: [] },
    streaming: { calls: 0, usage: emptyUsage(), cost: [] },
  };
  const batches = new Map<string, number>();
  for (const run of all.items) {
    for (const it of await client.getRunIterations(run.id)) {
      if (it.state !== 'completed') continue;
      const m = perMode[it.mode];
      m.calls++;
      addUsage(m.usage, it.usage);
      const cost = costOfCall(model, it.usage);
      if (cost) m.cost.push(cost);
      if (it.anthropicBatchId) batches.set(it.anthropicBatchId, (batches.get(it.anthropicBatchId) ?? 0) + 1);
    }
  }
  const largest = Math.max(0, ...batches.values());
  out(`  ${all.total} runs (${all.items.filter((r) => r.parentRunId).length} of them delegated child runs); ${perMode.batch.calls} batch-mode model calls went out in ${batches.size} Message Batches (up to ${largest} per batch)`);

  out('');
  const price = priceOf(model);
  out(`Tokens and cost (${model}${price ? `: $${price.input.toFixed(2)} in / $${price.output.toFixed(2)} out per million tokens; batches 50% off` : ': no price known for this model'})`);
  const batch = sumCosts(perMode.batch.cost);
  const fast = sumCosts(perMode.streaming.cost);
  const row = (name: string, m: { calls: number; usage: Usage }) =>
    `  ${name.padEnd(10)} ${String(m.calls).padStart(3)} model calls  ${n(m.usage.inputTokens).padStart(7)} in  ${n(m.usage.outputTokens).padStart(6)} out`;
  out(`${row('batch mode', perMode.batch)}   ${formatUsd(batch.batch)} at batch prices (${formatUsd(batch.standard)} at standard prices)`);
  out(`${row('fast mode', perMode.streaming)}   ${formatUsd(fast.standard)} at standard prices (streaming has no discount)`);
  out(`  total      ${formatUsd(batch.batch + fast.standard)}; the same calls all at standard prices: ${formatUsd(batch.standard + fast.standard)} (batch mode saved ${formatUsd(batch.standard - batch.batch)})`);
  if (emulated) out('  (the emulator estimates tokens at about 4 characters each; with ANTHROPIC_API_KEY these are real counts)');
}

function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
}

function addUsage(into: Usage, u: Usage): void {
  into.inputTokens += u.inputTokens;
  into.outputTokens += u.outputTokens;
  into.cacheCreationInputTokens += u.cacheCreationInputTokens;
  into.cacheReadInputTokens += u.cacheReadInputTokens;
}

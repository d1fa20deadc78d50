import type { Command } from 'commander';
import type { AgentPG } from '../../client.js';
import type { Driver } from '../../db/driver.js';
import { migrationStatus } from '../../db/migrate.js';
import { getAgentsByIds } from '../../store/agents.js';
import { tables } from '../../store/tables.js';
import type { Agent, Iteration, Run, RunState, ToolExecution, Usage } from '../../types.js';
import { CliError, nonNegativeInt, positiveInt, withConnectionOptions, withDatabase, type ConnectionOptions } from '../db.js';
import { between, clip, compact, duration, table, time } from '../format.js';

const out = (line = '') => process.stdout.write(`${line}\n`);

const RUN_STATES: readonly RunState[] = ['pending', 'batch_submitting', 'batch_pending', 'streaming', 'pending_tools', 'completed', 'cancelled', 'failed'];

function parseStates(value: string): RunState[] {
  const states = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = states.filter((s) => !RUN_STATES.includes(s as RunState));
  if (states.length === 0 || bad.length > 0) {
    throw new CliError(`--state: unknown state ${bad.map((b) => `"${b}"`).join(', ') || '(empty)'}; one or more of ${RUN_STATES.join(', ')}`);
  }
  return states as RunState[];
}

/** A client used only to read; it is never started, so it claims no work. */
async function reader(driver: Driver, schema: string): Promise<AgentPG> {
  const status = await migrationStatus(driver, { schema });
  if (!status.some((s) => s.applied)) {
    throw new CliError(`schema "${schema}" has no agentpg tables: run \`agentpg migrate up\` (or pass the right --schema)`);
  }
  // Loaded here, not at the top: `agentpg --help` should not pay for the SDK.
  const { AgentPG } = await import('../../client.js');
  return new AgentPG({ driver, schema });
}

async function agentNames(driver: Driver, schema: string, ids: string[]): Promise<Map<string, Agent>> {
  const agents = await getAgentsByIds(driver, tables(schema), [...new Set(ids)]);
  return new Map(agents.map((a) => [a.id, a]));
}

function tokens(u: Usage): string {
  return `${u.inputTokens}/${u.outputTokens}`;
}

function runDuration(r: Run): number | null {
  return between(r.startedAt ?? r.createdAt, r.finalizedAt);
}

/** `agentpg runs` and `agentpg run <id>`: inspect runs, their model calls and tool calls. */
export function register(program: Command): void {
  withConnectionOptions(
    program
      .command('runs')
      .description('List runs, newest first')
      .option('--session <id>', 'only runs of this session')
      .option('--agent <id>', 'only runs of this agent (UUID)')
      .option('--state <states>', `only runs in these states, comma-separated (${RUN_STATES.join(', ')})`, parseStates)
      .option('--limit <n>', 'at most this many runs', positiveInt('--limit'), 20)
      .option('--offset <n>', 'skip this many runs', nonNegativeInt('--offset'), 0)
      .option('--json', 'print JSON ({ items, total }) instead of a table'),
  ).action(async (opts: ConnectionOptions & { session?: string; agent?: string; state?: RunState[]; limit: number; offset: number; json?: boolean }) => {
    await withDatabase(opts, async (driver, schema) => {
      const client = await reader(driver, schema);
      const page = await client.listRuns({
        ...(opts.session ? { sessionId: opts.session } : {}),
        ...(opts.agent ? { agentId: opts.agent } : {}),
        ...(opts.state ? { state: opts.state } : {}),
        limit: Math.min(opts.limit, 1000),
        offset: opts.offset,
      });
      if (opts.json) {
        out(JSON.stringify(page, null, 2));
        return;
      }
      if (page.items.length === 0) {
        out(page.total === 0 ? 'No runs.' : `No runs at offset ${opts.offset} (${page.total} in all).`);
        return;
      }
      const agents = await agentNames(driver, schema, page.items.map((r) => r.agentId));
      out(
        table(
          ['id', 'agent', 'mode', 'state', 'depth', 'calls', 'tokens in/out', 'created (UTC)', 'took', 'prompt'],
          page.items.map((r) => [
            r.id,
            agents.get(r.agentId)?.name ?? r.agentId,
            r.mode,
            r.state,
            r.depth,
            r.iterationCount,
            tokens(r.usage),
            time(r.createdAt),
            duration(runDuration(r)),
            clip(promptText(r), 40),
          ]),
        ),
      );
      const shown = opts.offset + page.items.length;
      if (page.total > shown || opts.offset > 0) out(`Runs ${opts.offset + 1}-${shown} of ${page.total}.`);
    });
  });

  withConnectionOptions(
    program
      .command('run')
      .description('Show one run: its state, answer, model calls (iterations) and tool calls')
      .argument('<id>', 'run id (UUID)')
      .option('--json', 'print JSON ({ run, iterations, tools }) instead of text'),
  ).action(async (id: string, opts: ConnectionOptions & { json?: boolean }) => {
    await withDatabase(opts, async (driver, schema) => {
      const client = await reader(driver, schema);
      const run = await client.getRun(id);
      const [iterations, tools] = await Promise.all([client.getRunIterations(run.id), client.getRunTools(run.id)]);
      if (opts.json) {
        out(JSON.stringify({ run, iterations, tools }, null, 2));
        return;
      }
      const agents = await agentNames(driver, schema, [run.agentId]);
      printRun(run, agents.get(run.agentId), iterations, tools);
    });
  });
}

function promptText(r: Run): string {
  return r.prompt.map((b) => (b.type === 'text' ? b.text : `[${b.type}]`)).join(' ');
}

function printRun(run: Run, agent: Agent | undefined, iterations: Iteration[], tools: ToolExecution[]): void {
  const field = (name: string, value: string) => out(`${`${name}:`.padEnd(14)}${value}`);
  field('Run', run.id);
  field('State', run.state + (run.errorType ? ` (${run.errorType}: ${run.errorMessage ?? ''})` : ''));
  if (run.blocked) field('Blocked', `${run.blocked.message} (since ${time(run.blocked.since)} UTC)`);
  field('Agent', agent ? `${agent.name} (${agent.id}, ${agent.model})` : run.agentId);
  field('Session', run.sessionId);
  field('Mode', run.mode);
  if (run.parentRunId) field('Parent run', `${run.parentRunId} (depth ${run.depth})`);
  field('Created', `${time(run.createdAt)} UTC`);
  if (run.finalizedAt) field('Finished', `${time(run.finalizedAt)} UTC, took ${duration(runDuration(run))}`);
  field('Model calls', `${run.iterationCount} (max ${run.maxIterations})`);
  field(
    'Tokens',
    `${run.usage.inputTokens} in, ${run.usage.outputTokens} out` +
      (run.usage.cacheReadInputTokens || run.usage.cacheCreationInputTokens
        ? `, cache ${run.usage.cacheCreationInputTokens} written / ${run.usage.cacheReadInputTokens} read`
        : ''),
  );
  if (Object.keys(run.variables).length > 0) field('Variables', compact(run.variables, 200));
  if (Object.keys(run.metadata).length > 0) field('Metadata', compact(run.metadata, 200));
  field('Prompt', clip(promptText(run), 200));
  if (run.responseText !== null) field('Answer', clip(run.responseText, 500));
  if (run.stopReason) field('Stop reason', run.stopReason);

  out();
  out(`Iterations (${iterations.length}):`);
  if (iterations.length > 0) {
    out(
      table(
        ['#', 'mode', 'state', 'trigger', 'requeues', 'batch', 'stop reason', 'tokens in/out', 'tools', 'took', 'error'],
        iterations.map((i) => [
          i.index,
          i.mode,
          i.state,
          i.triggerType,
          i.attempt,
          i.anthropicBatchId,
          i.stopReason,
          tokens(i.usage),
          i.toolExecutionCount,
          duration(between(i.startedAt, i.completedAt)),
          i.errorType ? clip(`${i.errorType}: ${i.errorMessage ?? ''}`, 60) : null,
        ]),
      ),
    );
  }
  out();
  out(`Tool calls (${tools.length}):`);
  if (tools.length > 0) {
    const iterationIndex = new Map(iterations.map((i) => [i.id, i.index]));
    out(
      table(
        ['iter', 'tool', 'state', 'attempts', 'took', 'input', 'output'],
        tools.map((t) => [
          iterationIndex.get(t.iterationId) ?? null,
          t.isAgentTool ? `${t.toolName} (agent${t.childRunId ? ` → run ${t.childRunId}` : ''})` : t.toolName,
          t.isError && t.state === 'completed' ? 'completed (error)' : t.state,
          `${t.attempt}/${t.maxAttempts}`,
          duration(between(t.startedAt, t.completedAt)),
          compact(t.input, 40),
          t.isError ? compact(t.errorMessage ?? t.output, 50) : compact(t.output, 50),
        ]),
      ),
    );
  }
}

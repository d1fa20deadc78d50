import pg from 'pg';
import { AgentPG } from '../client.js';
import { migrate } from '../db/migrate.js';
import { pgDriver } from '../db/drivers/pg.js';
import { reply, type MessageRequest } from '../emulator/index.js';
import type { Agent, RunMode } from '../types.js';
import { CliError, describeConnectionError } from '../cli/db.js';
import { resetSchema, startInfra, type DemoInfra } from './infra.js';
import { Progress, type WorkerName } from './progress.js';
import { printReport, type DemoRun } from './report.js';
import { toolsFor } from './tools.js';

export interface DemoOptions {
  databaseUrl?: string;
  apiKey?: string;
  schema: string;
  model: string;
  out: (line: string) => void;
}

const WORKERS: WorkerName[] = ['worker-a', 'worker-b'];

/**
 * The whole demo: infrastructure, two workers, agents, batch and fast runs with live progress, the report,
 * and a clean shutdown of everything it started, also when something fails half-way.
 */
export async function runDemo(o: DemoOptions): Promise<void> {
  const out = o.out;
  const started = Date.now();
  out('agentpg demo: durable Claude agents whose whole state lives in PostgreSQL');
  out('');
  const infra = await startInfra({
    ...(o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}),
    ...(o.apiKey ? { apiKey: o.apiKey } : {}),
    batchLatencyMs: 300,
    streamEventDelayMs: 25,
    log: (l) => out(`  ${l}`),
  });
  const pools: pg.Pool[] = [];
  const clients: AgentPG<pg.PoolClient>[] = [];
  let progress: Progress | null = null;
  const onSignal = () => {
    out('\ninterrupted: stopping workers and cleaning up...');
    void shutdown().then(() => process.exit(130));
  };
  let shuttingDown: Promise<void> | null = null;
  const shutdown = () =>
    (shuttingDown ??= (async () => {
      await progress?.stop();
      await Promise.all(clients.map((c) => c.stop().catch(() => {})));
      if (clients.length > 0) out(`  ${clients.map((c) => c.config.name).join(' and ')} stopped`);
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
      for (const line of await infra.close()) out(`  ${line}`);
    })());
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pool = () => {
      const p = new pg.Pool({ connectionString: infra.databaseUrl, max: 8 });
      p.on('error', () => {}); // connections cut while shutting down
      pools.push(p);
      return p;
    };
    const admin = pool();
    try {
      await resetSchema(admin, o.schema);
    } catch (err) {
      throw new CliError(describeConnectionError(err, infra.databaseUrl));
    }
    const applied = await migrate(pgDriver(admin), { schema: o.schema });
    out(`  database  ${infra.databaseLabel}`);
    out(`  schema    "${o.schema}": dropped and migrated (${applied.length} migrations)`);
    out(`  Claude    ${infra.claude.label}; model ${o.model}`);

    // Two workers, as two processes would be: each with its own pool, LISTEN connection and tools.
    const agentNames = new Map<string, string>();
    progress = new Progress(out, agentNames);
    for (const name of WORKERS) {
      const client = new AgentPG({
        driver: pgDriver(pool()),
        schema: o.schema,
        name,
        apiKey: infra.claude.apiKey,
        ...(infra.claude.baseURL ? { baseURL: infra.claude.baseURL } : {}),
        // Real batches take a while: poll them every few seconds. The emulator ends them in 300 ms.
        batch: infra.claude.real ? { flushIntervalMs: 500, pollIntervalMs: 5000 } : { flushIntervalMs: 150, pollIntervalMs: 100 },
        maxConcurrentTools: 2,
        hooks: progress.hooks(name),
        logger: progress.logger(name),
      });
      for (const tool of toolsFor(name)) client.registerTool(tool);
      clients.push(client);
    }
    await Promise.all(clients.map((c) => c.start()));
    const [a] = clients as [AgentPG<pg.PoolClient>, AgentPG<pg.PoolClient>];
    for (const c of clients) out(`  worker    ${c.config.name} started (instance ${c.instanceId.slice(0, 8)}), tools: ${c.toolNames.join(', ')}`);
    out('            (search_flights is registered on worker-b only: only worker-b can run those calls)');

    const agents = await createAgents(a, o.model);
    for (const ag of Object.values(agents)) agentNames.set(ag.id, ag.name);
    out(
      `  agents    assistant [get_weather, convert_currency, search_flights]; travel-planner delegates to ` +
        `weather-expert [get_weather], currency-expert [convert_currency], flight-expert [search_flights]`,
    );
    if (infra.emulator) scriptPlanner(infra);

    progress.watch(a);
    const runs: DemoRun[] = [];
    // Starts runs together (each in its own session), so their first model calls are due at the same moment.
    const startAll = async (mode: RunMode, list: [label: string, agent: Agent, prompt: string][]) => {
      const sessions = await Promise.all(list.map(() => a.newSession({ metadata: { demo: true } })));
      const ids = await Promise.all(
        list.map(([, agent, prompt], i) => (mode === 'batch' ? a.run(sessions[i]!, agent.id, prompt) : a.runFast(sessions[i]!, agent.id, prompt))),
      );
      return list.map(([label, agent, prompt], i) => {
        progress!.track(ids[i]!, label, mode);
        const r: DemoRun = { label, runId: ids[i]!, agent: agent.name, mode, prompt, text: null, error: null };
        runs.push(r);
        out(`          ${label} ${agent.name}: "${prompt}"`);
        return r;
      });
    };
    const finish = async (r: DemoRun) => {
      try {
        r.text = (await a.waitForRun(r.runId, { timeoutMs: infra.claude.real ? 30 * 60_000 : 60_000 })).text;
      } catch (err) {
        r.error = (err as Error).message;
      }
    };

    // Batch mode -------------------------------------------------------------------------------------------
    out('');
    out('Batch mode: 6 runs started at once. Their model calls are coalesced into shared Message Batches (50% off).');
    const batchRuns = await startAll('batch', [
      ['#1', agents.assistant, "What's the weather in Paris?"],
      ['#2', agents.assistant, "What's the weather in Tokyo?"],
      ['#3', agents.assistant, 'Convert 250 USD to EUR.'],
      ['#4', agents.assistant, 'What is 17*23?'],
      ['#5', agents.assistant, 'Search flights to Lima.'],
      ['#6', agents.planner, 'Plan a weekend trip to Rome.'],
    ]);
    await Promise.all(batchRuns.map(finish));
    await progress.settled(batchRuns.map((r) => r.runId));

    // Fast mode --------------------------------------------------------------------------------------------
    out('');
    out('Fast mode: 2 runs through the streaming Messages API, followed live with client.events().');
    const fastRuns = await startAll('streaming', [
      ['#7', agents.assistant, "What's the weather in Oslo?"],
      ['#8', agents.planner, 'Plan a weekend trip to Kyoto.'],
    ]);
    await Promise.all(fastRuns.map((r) => follow(a, r, progress!)));
    await Promise.all(fastRuns.map(finish));
    await progress.settled(fastRuns.map((r) => r.runId));
    await progress.stop();

    await printReport(out, a, runs, progress, o.model, !!infra.emulator);
    out('');
    out(`Done in ${((Date.now() - started) / 1000).toFixed(1)}s. Shutting down:`);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await shutdown();
  }
  if (o.databaseUrl) {
    out(`The runs stay in schema "${o.schema}": npx agentpg runs --schema ${o.schema}   (npx agentpg run <id> --schema ${o.schema} for one)`);
  }
}

async function createAgents(client: AgentPG<pg.PoolClient>, model: string) {
  // Specialists first: a parent refers to its delegates by id.
  const expert = (name: string, description: string, tool: string) =>
    client.createAgent({ name, description, model, systemPrompt: `You are the ${description}. Use your tool and answer in one sentence.`, tools: [tool] });
  const weather = await expert('weather-expert', 'weather expert', 'get_weather');
  const currency = await expert('currency-expert', 'currency expert', 'convert_currency');
  const flights = await expert('flight-expert', 'flight expert', 'search_flights');
  const planner = await client.createAgent({
    name: 'travel-planner',
    description: 'Plans trips',
    model,
    systemPrompt:
      'You are the travel planner. Ask weather-expert for the weather, currency-expert to convert 500 USD to EUR, ' +
      'and flight-expert for flights to the destination, all at once; then summarise in two sentences.',
    agentIds: [weather.id, currency.id, flights.id],
  });
  const assistant = await client.createAgent({
    name: 'assistant',
    description: 'General assistant',
    model,
    systemPrompt: 'You are a helpful assistant. Use your tools when they help; answer in one sentence.',
    tools: ['get_weather', 'convert_currency', 'search_flights'],
  });
  return { weather, currency, flights, planner, assistant };
}

/**
 * The emulator's default model delegates with the whole prompt as the task. The planner gets a script instead,
 * so its three delegations carry the focused tasks a real model would write.
 */
function scriptPlanner(infra: DemoInfra): void {
  const toolResults = (req: MessageRequest): string[] => {
    const last = req.messages.at(-1);
    if (!last || !Array.isArray(last.content)) return [];
    return last.content.flatMap((b) =>
      b.type === 'tool_result' ? [typeof b.content === 'string' ? b.content : (b.content ?? []).map((c) => ('text' in c ? c.text : '')).join('')] : [],
    );
  };
  infra.emulator!.script({ system: /You are the travel planner/ }, (req) => {
    const results = toolResults(req);
    if (results.length > 0) return reply.text(`Here is your trip plan. ${results.map((r) => r.trim().replace(/\.?$/, '.')).join(' ')}`);
    const first = req.messages[0];
    const prompt = typeof first?.content === 'string' ? first.content : (first?.content ?? []).map((b) => ('text' in b ? b.text : '')).join(' ');
    const city = /trip to ([A-Z][\w-]*)/.exec(prompt)?.[1] ?? 'Rome';
    return reply.toolUses([
      { name: 'weather-expert', input: { task: `What's the weather in ${city}?` } },
      { name: 'currency-expert', input: { task: 'Convert 500 USD to EUR.' } },
      { name: 'flight-expert', input: { task: `Search flights to ${city}.` } },
    ]);
  }).repeatLast();
}

/** Prints a fast run's streamed text and its end as the events arrive (tool calls and child runs are reported by the workers' hooks). */
async function follow(client: AgentPG<pg.PoolClient>, r: DemoRun, progress: Progress): Promise<void> {
  for await (const e of client.events(r.runId)) {
    if (e.type === 'text_delta') progress.line('', `${r.label} streamed text: ${JSON.stringify(e.text)}`);
    else if (e.type === 'done') progress.line('', `${r.label} event: done (${e.state})`);
  }
}

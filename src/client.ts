import { readFileSync } from 'node:fs';
import type { Driver, Queryable } from './db/driver.js';
import { migrate, migrationStatus } from './db/migrate.js';
import {
  ConflictError,
  InUseError,
  LifecycleError,
  NotFoundError,
  RunCancelledError,
  RunFailedError,
  ValidationError,
  constraintName,
  sqlState,
} from './errors.js';
import { randomUUID } from 'node:crypto';
import type Anthropic from '@anthropic-ai/sdk';
import { Notifier } from './db/notifier.js';
import { anthropicFor } from './claude/anthropic.js';
import { Engine } from './engine/engine.js';
import { Maintenance } from './maintenance/maintenance.js';
import { RunWaiters } from './engine/waiters.js';
import { channel } from './store/tables.js';
import * as runs from './store/runs.js';
import { listRunIterations } from './store/iterations.js';
import { listRunToolExecutions, toToolCall } from './store/tool-executions.js';
import { treeUsage } from './store/delegation.js';
import { cancelRunTree } from './store/cancel.js';
import { transactionWithRetry } from './db/retry.js';
import { EventDiffer, runSnapshot, type RunEvent } from './engine/events.js';
import { resolveConfig, type AgentPGConfig, type ResolvedConfig } from './config.js';
import type { Tool } from './tools/define.js';
import type {
  Agent,
  AgentDefinition,
  AgentPatch,
  GetSessionMessagesOptions,
  JsonObject,
  Iteration,
  ListAgentsOptions,
  ListRunsOptions,
  ListSessionsOptions,
  Message,
  Prompt,
  Run,
  RunMode,
  RunOptions,
  RunResponse,
  ToolExecution,
  WaitOptions,
  NewSessionOptions,
  Page,
  Session,
} from './types.js';
import { tables, type Tables } from './store/tables.js';
import * as agents from './store/agents.js';
import * as sessions from './store/sessions.js';
import * as messages from './store/messages.js';
import * as instances from './store/instances.js';
import { registerInstanceTools } from './store/tools.js';
import {
  agentDefinition,
  agentPatch,
  assertUuid,
  listOptions,
  listSessionsOptions,
  newSessionOptions,
  parseOrThrow,
  sessionMessagesOptions,
  sessionPatch,
  listRunsOptions,
  prompt as promptSchema,
  runOptions,
} from './validation.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

type LifecycleState = 'new' | 'starting' | 'started' | 'stopping' | 'stopped';

/**
 * The agentpg client: one per process. Register tools, `start()`, then create agents and sessions and run them.
 * `TTx` is the native transaction type of the driver, accepted by the `...Tx` methods.
 */
export class AgentPG<TTx = unknown> {
  /** The resolved configuration, defaults applied. */
  readonly config: ResolvedConfig;
  protected readonly driver: Driver<TTx>;
  protected readonly t: Tables;
  protected readonly tools = new Map<string, Tool<unknown>>();
  protected state: LifecycleState = 'new';
  /** The SDK client, made on first use. */
  protected readonly anthropic: () => Anthropic;
  private notifier: Notifier | null = null;
  private notifierStarting: Promise<Notifier> | null = null;
  private readonly waiters = new RunWaiters();
  private engine: Engine | null = null;
  private maintenance: Maintenance | null = null;

  constructor(config: AgentPGConfig<TTx>) {
    this.config = resolveConfig(config);
    this.driver = config.driver;
    this.t = tables(this.config.schema);
    this.anthropic = anthropicFor(this.config);
  }

  /** Id of this process's instance row. */
  get instanceId(): string {
    return this.config.instanceId;
  }

  // Lifecycle -----------------------------------------------------------------------------------

  /** Makes a tool available to agents that list it. Only before `start()`; names must be unique. */
  registerTool(tool: Tool<any>): this {
    if (this.state !== 'new') throw new LifecycleError('client_already_started', `registerTool("${tool?.name}") must be called before start()`);
    if (!tool || typeof tool !== 'object' || typeof tool.execute !== 'function' || typeof tool.validate !== 'function') {
      throw new ValidationError('registerTool expects a tool made with defineTool()');
    }
    if (this.tools.has(tool.name)) throw new ConflictError(`a tool named "${tool.name}" is already registered on this client`, { tool: tool.name });
    this.tools.set(tool.name, tool as Tool<unknown>);
    return this;
  }

  /** Whether this client currently holds the leadership (it then runs the rescuer and the cleaner). */
  get isLeader(): boolean {
    return this.maintenance?.term != null;
  }

  /** Names of the tools registered on this client. */
  get toolNames(): string[] {
    return [...this.tools.keys()];
  }

  /** Applies pending migrations to this client's schema. Returns the versions applied. */
  async migrate(): Promise<number[]> {
    return migrate(this.driver as Driver, { schema: this.config.schema });
  }

  /**
   * Registers this instance and its tools, then starts the workers. Fails with a clear error when the schema
   * is not migrated (unless `autoMigrate`).
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new LifecycleError('client_already_started', `start() was already called (client is ${this.state})`);
    this.state = 'starting';
    try {
      if (this.config.autoMigrate) await this.migrate();
      else await this.assertMigrated();
      await this.registerInstance();
      await this.startServices();
      this.state = 'started';
      this.config.logger.info('agentpg started', { instanceId: this.instanceId, tools: this.toolNames });
    } catch (err) {
      this.state = 'new';
      await this.stopServices().catch(() => {});
      throw err;
    }
  }

  /**
   * Stops gracefully: claims no new work, lets in-flight tool calls and model calls finish for up to `timeoutMs`
   * (default `shutdownTimeoutMs`), hands every claim still held back to the queue (no attempt used, no run failed),
   * gives leadership up and removes this instance's registration. Safe to call twice.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.config.shutdownTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new ValidationError(`stop(): timeoutMs must be a non-negative number, got ${timeoutMs}`);
    if (this.state === 'new') {
      // Never started, but waitForRun/events may have opened the LISTEN connection: close it.
      await this.stopServices(0);
      return;
    }
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    try {
      await this.stopServices(timeoutMs);
      await instances.deleteInstance(this.driver, this.t, this.instanceId);
    } finally {
      this.state = 'stopped';
    }
  }

  private async startServices(): Promise<void> {
    const notifier = await this.listener();
    this.engine = new Engine(this.driver as Driver, this.t, this.config, this.tools, this.anthropic, notifier);
    await this.engine.start();
    this.maintenance = new Maintenance(this.driver as Driver, this.t, this.config, notifier, () => this.registerInstance());
    this.maintenance.start();
  }

  private async stopServices(timeoutMs = this.config.shutdownTimeoutMs): Promise<void> {
    const engine = this.engine;
    this.engine = null;
    await engine?.stop(timeoutMs);
    // After the engine: the heartbeat and (if leading) the rescuer keep running while work drains.
    const maintenance = this.maintenance;
    this.maintenance = null;
    await maintenance?.stop();
    const n = this.notifier ?? (await this.notifierStarting?.catch(() => null));
    this.notifier = null;
    this.notifierStarting = null;
    await n?.stop();
  }

  /** The process's one LISTEN connection, opened on first need (workers, or a waiter in any process). */
  private listener(): Promise<Notifier> {
    if (this.notifier) return Promise.resolve(this.notifier);
    this.notifierStarting ??= (async () => {
      const n = new Notifier(this.driver, { logger: this.config.logger });
      await n.subscribe(channel(this.config.schema, 'run'), (payload) => this.waiters.wake(payload.slice(0, 36)));
      n.onReconnect(() => this.waiters.wakeAll());
      await n.start();
      this.notifier = n;
      return n;
    })().catch((err) => {
      this.notifierStarting = null;
      throw err;
    });
    return this.notifierStarting;
  }

  protected async registerInstance(): Promise<void> {
    const c = this.config;
    await this.driver.transaction(async (tx) => {
      await instances.upsertInstance(tx, this.t, {
        id: c.instanceId,
        name: c.name,
        hostname: (await import('node:os')).hostname(),
        pid: process.pid,
        version: VERSION,
        maxConcurrentRuns: c.maxConcurrentStreamingRuns,
        maxConcurrentTools: c.maxConcurrentTools,
        metadata: c.metadata,
      });
      await registerInstanceTools(
        tx,
        this.t,
        c.instanceId,
        [...this.tools.values()].map((tool) => ({ name: tool.name, description: tool.description, inputSchema: tool.inputSchema })),
      );
    });
  }

  private async assertMigrated(): Promise<void> {
    const status = await migrationStatus(this.driver as Driver, { schema: this.config.schema });
    const pending = status.filter((s) => !s.applied);
    if (pending.length > 0) {
      throw new LifecycleError(
        'client_not_started',
        `schema "${this.config.schema}" is missing migration(s) ${pending.map((p) => p.version).join(', ')}: ` +
          'run `npx agentpg migrate up`, call migrate(), or pass autoMigrate: true',
      );
    }
  }

  protected requireStarted(what: string): void {
    if (this.state !== 'started') {
      throw new LifecycleError(
        this.state === 'stopping' || this.state === 'stopped' ? 'client_stopping' : 'client_not_started',
        `${what} needs a started client (call start() first; client is ${this.state})`,
      );
    }
  }

  // Agents --------------------------------------------------------------------------------------

  /** Creates an agent. Fails with ConflictError when one with the same name and metadata exists. */
  async createAgent(definition: AgentDefinition): Promise<Agent> {
    const def = parseOrThrow(agentDefinition, definition, 'agent definition');
    await this.assertDelegatesExist(def.agentIds ?? []);
    try {
      return await agents.insertAgent(this.driver, this.t, def);
    } catch (err) {
      throw this.agentWriteError(err, def.name, def.metadata ?? {});
    }
  }

  /**
   * Returns the agent with this name and exactly this metadata, creating it from `definition` when absent.
   * Atomic: concurrent callers all get the same single row. An existing agent is returned unchanged.
   */
  async getOrCreateAgent(definition: AgentDefinition): Promise<Agent> {
    const def = parseOrThrow(agentDefinition, definition, 'agent definition');
    await this.assertDelegatesExist(def.agentIds ?? []);
    for (let attempt = 0; attempt < 5; attempt++) {
      const created = await agents.insertAgentIfAbsent(this.driver, this.t, def);
      if (created) return created;
      // The conflicting row was committed before ON CONFLICT returned, so a fresh statement sees it,
      // unless it was deleted in between: then insert again.
      const existing = await agents.getAgentByName(this.driver, this.t, def.name, def.metadata ?? {});
      if (existing) return existing;
    }
    throw new ConflictError(`agent "${def.name}" kept being created and deleted concurrently; try again`);
  }

  async getAgent(id: string): Promise<Agent> {
    const agentId = assertUuid(id, 'agent id');
    const agent = await agents.getAgentById(this.driver, this.t, agentId);
    if (!agent) throw new NotFoundError('agent', agentId);
    return agent;
  }

  /** The agent with this name whose metadata equals `metadata` exactly (default `{}`): never another tenant's. */
  async getAgentByName(name: string, metadata: JsonObject = {}): Promise<Agent> {
    const def = parseOrThrow(agentDefinition.pick({ name: true, metadata: true }), { name, metadata }, 'agent lookup');
    const agent = await agents.getAgentByName(this.driver, this.t, def.name, def.metadata ?? {});
    if (!agent) throw new NotFoundError('agent', `${def.name} ${JSON.stringify(def.metadata ?? {})}`);
    return agent;
  }

  /** Agents whose metadata contains `metadata`, ordered by name. Default limit 100. */
  async listAgents(options: ListAgentsOptions = {}): Promise<Page<Agent>> {
    const o = parseOrThrow(listOptions, options, 'listAgents options');
    return agents.listAgents(this.driver, this.t, {
      ...(o.metadata ? { metadata: o.metadata } : {}),
      limit: o.limit ?? 100,
      offset: o.offset ?? 0,
    });
  }

  /** Changes only the fields present in `patch`. */
  async updateAgent(id: string, patch: AgentPatch): Promise<Agent> {
    const agentId = assertUuid(id, 'agent id');
    const p = parseOrThrow(agentPatch, patch, 'agent patch');
    if (p.agentIds) {
      if (p.agentIds.includes(agentId)) throw new ValidationError('an agent cannot delegate to itself');
      await this.assertDelegatesExist(p.agentIds);
    }
    try {
      const agent = await agents.updateAgent(this.driver, this.t, agentId, p);
      if (!agent) throw new NotFoundError('agent', agentId);
      return agent;
    } catch (err) {
      if (err instanceof NotFoundError) throw err;
      throw this.agentWriteError(err, p.name ?? '(unchanged name)', p.metadata ?? {});
    }
  }

  /** Deletes an agent. Fails with InUseError while runs or other agents reference it. */
  async deleteAgent(id: string): Promise<void> {
    const agentId = assertUuid(id, 'agent id');
    const delegators = await agents.agentsDelegatingTo(this.driver, this.t, agentId);
    if (delegators.length > 0) {
      throw new InUseError(`agent ${agentId} is a delegate of ${delegators.join(', ')}; remove it from their agentIds first`, {
        agents: delegators,
      });
    }
    try {
      if (!(await agents.deleteAgent(this.driver, this.t, agentId))) throw new NotFoundError('agent', agentId);
    } catch (err) {
      // 23001: ON DELETE RESTRICT; 23503: a plain foreign key.
      if (sqlState(err) === '23001' || sqlState(err) === '23503') {
        throw new InUseError(`agent ${agentId} has runs; delete their sessions first or keep the agent`, { agentId });
      }
      throw err;
    }
  }

  private async assertDelegatesExist(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const found = await agents.getAgentsByIds(this.driver, this.t, ids);
    const missing = ids.filter((id) => !found.some((a) => a.id === id.toLowerCase()));
    if (missing.length > 0) throw new NotFoundError('agent', missing.join(', '));
  }

  private agentWriteError(err: unknown, name: string, metadata: JsonObject): unknown {
    const state = sqlState(err);
    if (state === '23505' && constraintName(err) === 'agents_name_metadata_key') {
      return new ConflictError(`an agent named "${name}" with metadata ${JSON.stringify(metadata)} already exists`, { name, metadata });
    }
    if (state === '23514') return new ValidationError(`agent rejected by constraint ${constraintName(err) ?? '(unknown)'}`);
    return err;
  }

  // Sessions ------------------------------------------------------------------------------------

  /** Creates a session and returns its id. */
  async newSession(options: NewSessionOptions = {}): Promise<string> {
    return this.insertSession(this.driver, options);
  }

  /** Creates a session inside the caller's transaction (the driver's native transaction object). */
  async newSessionTx(tx: TTx, options: NewSessionOptions = {}): Promise<string> {
    return this.insertSession(this.driver.fromTx(tx), options);
  }

  private async insertSession(db: Queryable, options: NewSessionOptions): Promise<string> {
    const o = parseOrThrow(newSessionOptions, options, 'session options');
    const s = await sessions.insertSession(db, this.t, o.parentSessionId ?? null, o.metadata ?? {});
    if (!s) throw new NotFoundError('session', o.parentSessionId!);
    return s.id;
  }

  async getSession(id: string): Promise<Session> {
    const sessionId = assertUuid(id, 'session id');
    const s = await sessions.getSession(this.driver, this.t, sessionId);
    if (!s) throw new NotFoundError('session', sessionId);
    return s;
  }

  /** Sessions whose metadata contains `metadata`. Default limit 100, newest first. */
  async listSessions(options: ListSessionsOptions = {}): Promise<Page<Session>> {
    const o = parseOrThrow(listSessionsOptions, options, 'listSessions options');
    return sessions.listSessions(this.driver, this.t, {
      ...(o.metadata ? { metadata: o.metadata } : {}),
      limit: o.limit ?? 100,
      offset: o.offset ?? 0,
      order: o.order ?? 'created_desc',
    });
  }

  /** Replaces the session's metadata. */
  async updateSession(id: string, patch: { metadata?: JsonObject }): Promise<Session> {
    const sessionId = assertUuid(id, 'session id');
    const p = parseOrThrow(sessionPatch, patch, 'session patch');
    const s = p.metadata
      ? await sessions.updateSessionMetadata(this.driver, this.t, sessionId, p.metadata)
      : await sessions.getSession(this.driver, this.t, sessionId);
    if (!s) throw new NotFoundError('session', sessionId);
    return s;
  }

  /** Deletes a session with its runs and messages. Refuses while runs in it are unfinished unless `force`. */
  async deleteSession(id: string, options: { force?: boolean } = {}): Promise<void> {
    const sessionId = assertUuid(id, 'session id');
    if (!options.force) {
      const active = await sessions.activeRunsInSession(this.driver, this.t, sessionId);
      if (active > 0) {
        throw new InUseError(`session ${sessionId} has ${active} unfinished run(s); wait for them, cancel them, or pass { force: true }`, {
          activeRuns: active,
        });
      }
    }
    if (!(await sessions.deleteSession(this.driver, this.t, sessionId))) throw new NotFoundError('session', sessionId);
  }

  /** The session's messages with all their content blocks, oldest first (one query whatever their number). */
  async getSessionMessages(id: string, options: GetSessionMessagesOptions = {}): Promise<Message[]> {
    const sessionId = assertUuid(id, 'session id');
    const o = parseOrThrow(sessionMessagesOptions, options, 'getSessionMessages options');
    const list = await messages.listSessionMessages(this.driver, this.t, sessionId, {
      limit: o.limit ?? null,
      before: o.before ?? null,
    });
    if (list.length === 0 && !(await sessions.getSession(this.driver, this.t, sessionId))) {
      throw new NotFoundError('session', sessionId);
    }
    return list;
  }

  // Runs ----------------------------------------------------------------------------------------

  /** Starts a batch-mode run (Message Batches API, half price) and returns its id. */
  async run(sessionId: string, agentId: string, prompt: Prompt, options: RunOptions = {}): Promise<string> {
    return this.createRun(this.driver, 'batch', sessionId, agentId, prompt, options);
  }

  /** Like {@link run}, inside the caller's transaction: workers see the run when it commits; a rollback discards it. */
  async runTx(tx: TTx, sessionId: string, agentId: string, prompt: Prompt, options: RunOptions = {}): Promise<string> {
    return this.createRun(this.driver.fromTx(tx), 'batch', sessionId, agentId, prompt, options);
  }

  /** Starts a batch-mode run and waits for its response. */
  async runSync(sessionId: string, agentId: string, prompt: Prompt, options: RunOptions & WaitOptions = {}): Promise<RunResponse> {
    const { signal, timeoutMs, ...runOpts } = options;
    const id = await this.run(sessionId, agentId, prompt, runOpts);
    return this.waitForRun(id, { ...(signal ? { signal } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  }

  /** Starts a fast-mode run (streaming Messages API) and returns its id. */
  async runFast(sessionId: string, agentId: string, prompt: Prompt, options: RunOptions = {}): Promise<string> {
    return this.createRun(this.driver, 'streaming', sessionId, agentId, prompt, options);
  }

  /** Like {@link runFast}, inside the caller's transaction. */
  async runFastTx(tx: TTx, sessionId: string, agentId: string, prompt: Prompt, options: RunOptions = {}): Promise<string> {
    return this.createRun(this.driver.fromTx(tx), 'streaming', sessionId, agentId, prompt, options);
  }

  /** Starts a fast-mode run and waits for its response. */
  async runFastSync(sessionId: string, agentId: string, prompt: Prompt, options: RunOptions & WaitOptions = {}): Promise<RunResponse> {
    const { signal, timeoutMs, ...runOpts } = options;
    const id = await this.runFast(sessionId, agentId, prompt, runOpts);
    return this.waitForRun(id, { ...(signal ? { signal } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  }

  private async createRun(db: Queryable, mode: RunMode, sessionId: string, agentId: string, prompt: Prompt, options: RunOptions): Promise<string> {
    const sid = assertUuid(sessionId, 'session id');
    const aid = assertUuid(agentId, 'agent id');
    const blocks = parseOrThrow(promptSchema, prompt, 'prompt');
    const o = parseOrThrow(runOptions, options, 'run options');
    const id = await runs.insertRun(db, this.t, {
      id: randomUUID(),
      iterationId: randomUUID(),
      sessionId: sid,
      agentId: aid,
      mode,
      prompt: typeof blocks === 'string' ? [{ type: 'text', text: blocks }] : blocks,
      variables: o.variables ?? {},
      metadata: o.metadata ?? {},
      maxIterations: o.maxIterations ?? this.config.defaultMaxIterations,
      overrideInstructions: o.overrideInstructions ?? null,
      appendInstructions: o.appendInstructions ?? null,
      idempotencyKey: o.idempotencyKey ?? null,
      instanceId: this.state === 'started' ? this.instanceId : null,
    });
    if (id) return id;
    if (o.idempotencyKey) {
      const existing = await runs.runIdByIdempotencyKey(db, this.t, o.idempotencyKey);
      if (existing) return existing;
    }
    const [session, agent] = await Promise.all([sessions.getSession(db, this.t, sid), agents.getAgentById(db, this.t, aid)]);
    if (!session) throw new NotFoundError('session', sid);
    if (!agent) throw new NotFoundError('agent', aid);
    throw new ConflictError('the run could not be created; try again');
  }

  /**
   * Waits until the run finishes and returns its response; works from any process. Throws RunFailedError
   * or RunCancelledError when it did not complete, WaitTimeoutError on `timeoutMs` or `signal`.
   */
  async waitForRun(runId: string, options: WaitOptions = {}): Promise<RunResponse> {
    const id = assertUuid(runId, 'run id');
    await this.listener();
    const run = await this.waiters.until(
      id,
      async () => {
        const r = await runs.getRun(this.driver, this.t, id);
        if (!r) throw new NotFoundError('run', id);
        return r.finalizedAt ? r : null;
      },
      { pollMs: this.config.runPollIntervalMs, ...options },
    );
    if (run.state === 'failed') throw new RunFailedError(id, run.errorType ?? 'unknown', run.errorMessage ?? 'no message');
    if (run.state === 'cancelled') throw new RunCancelledError(id, run.errorMessage);
    return this.response(run);
  }

  private async response(run: Run): Promise<RunResponse> {
    const [msgs, execs] = await Promise.all([
      messages.listRunMessages(this.driver, this.t, run.id),
      listRunToolExecutions(this.driver, this.t, run.id),
    ]);
    return {
      runId: run.id,
      text: run.responseText ?? '',
      stopReason: run.stopReason,
      messages: msgs,
      toolCalls: execs.map(toToolCall),
      iterationCount: run.iterationCount,
      // Delegated work is paid for by the run that asked for it.
      usage: await treeUsage(this.driver, this.t, run.id),
    };
  }

  /**
   * Follows a run live, from any process: yields its state changes, model calls (with streamed text in fast
   * mode), tool calls, child runs and finally `done` (with the response when it completed). Notifications
   * wake it; rows are read for the truth, so a lost notification only delays an event.
   */
  async *events(runId: string, options: { signal?: AbortSignal; pollMs?: number } = {}): AsyncGenerator<RunEvent, void, undefined> {
    const id = assertUuid(runId, 'run id');
    const notifier = await this.listener();
    const differ = new EventDiffer(id);
    let wake: (() => void) | null = null;
    let woken = false;
    const poke = () => {
      woken = true;
      wake?.();
    };
    const offEvents = await notifier.subscribe(channel(this.config.schema, 'event'), (payload) => {
      if (!payload.includes(id)) return;
      try {
        const e = JSON.parse(payload) as { r: string; t?: string; i?: number; x?: string };
        if (e.r !== id) return;
        if (e.t === 'd' && typeof e.x === 'string') differ.pushDelta(e.i ?? 0, e.x);
      } catch {
        return;
      }
      poke();
    });
    const offRun = await notifier.subscribe(channel(this.config.schema, 'run'), (payload) => {
      if (payload.startsWith(id)) poke();
    });
    const offReconnect = notifier.onReconnect(poke);
    const onAbort = () => poke();
    options.signal?.addEventListener('abort', onAbort);
    try {
      for (;;) {
        woken = false;
        const snap = await runSnapshot(this.driver as Driver, this.t, id);
        if (!snap) throw new NotFoundError('run', id);
        for (const e of differ.diff(snap)) yield e;
        if (snap.done) {
          const run = await this.getRun(id);
          const state = run.state as 'completed' | 'failed' | 'cancelled';
          yield state === 'completed'
            ? { type: 'done', runId: id, state, response: await this.response(run) }
            : { type: 'done', runId: id, state, error: { type: run.errorType, message: run.errorMessage } };
          return;
        }
        if (options.signal?.aborted) return;
        if (!woken) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, options.pollMs ?? 250);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      offReconnect();
      await offEvents();
      await offRun();
    }
  }

  /**
   * Cancels a run and its child runs. Idempotent: cancelling a finished run changes nothing. Pending and
   * running tool calls are answered as cancelled, batches no longer needed are cancelled at the API, and
   * waiters get a RunCancelledError. Returns the ids of the runs it cancelled.
   */
  async cancelRun(runId: string, reason = 'cancelled by request'): Promise<string[]> {
    const id = assertUuid(runId, 'run id');
    const result = await transactionWithRetry(this.driver as Driver, (tx) => cancelRunTree(tx, this.t, id, reason));
    if (result.cancelled.length === 0 && !(await runs.getRun(this.driver, this.t, id))) throw new NotFoundError('run', id);
    for (const b of result.anthropicBatchIds) {
      await this.anthropic()
        .messages.batches.cancel(b)
        .catch((err: unknown) => this.config.logger.warn('cancelRun: cancelling the batch at the API failed', { batchId: b, error: String(err) }));
    }
    for (const r of result.cancelled) this.engine?.hooks.emit('onRunStateChange', { runId: r, state: 'cancelled' });
    return result.cancelled;
  }

  /**
   * Runs a finished root run again with the same prompt, agent and options, as a new run. The old run is
   * kept (with its messages) but leaves the session's live history. Returns the new run's id.
   */
  async regenerateRun(runId: string): Promise<string> {
    const id = assertUuid(runId, 'run id');
    const old = await this.getRun(id);
    if (!old.finalizedAt) throw new ConflictError(`run ${id} is still ${old.state}; only a finished run can be regenerated (cancel it first)`);
    if (old.parentRunId) throw new ValidationError(`run ${id} is a delegated child run; regenerate its root run instead`);
    return transactionWithRetry(this.driver as Driver, async (tx) => {
      const newId = randomUUID();
      const created = await runs.insertRun(tx, this.t, {
        id: newId,
        iterationId: randomUUID(),
        sessionId: old.sessionId,
        agentId: old.agentId,
        mode: old.mode,
        prompt: old.prompt,
        variables: old.variables,
        metadata: old.metadata,
        maxIterations: old.maxIterations,
        overrideInstructions: old.overrideInstructions,
        appendInstructions: old.appendInstructions,
        idempotencyKey: null,
        instanceId: this.state === 'started' ? this.instanceId : null,
      });
      if (!created) throw new NotFoundError('agent', old.agentId);
      // Guarded: of two concurrent regenerations, one wins; the other's new run rolls back with it.
      const { rowCount } = await tx.query(
        `UPDATE ${this.t.runs} SET superseded_by_run_id = $2 WHERE id = $1 AND superseded_by_run_id IS NULL`,
        [id, newId],
      );
      if (rowCount === 0) throw new ConflictError(`run ${id} was already regenerated`);
      await tx.query(`UPDATE ${this.t.runs} SET regenerated_from_run_id = $2 WHERE id = $1`, [newId, id]);
      return newId;
    });
  }

  async getRun(runId: string): Promise<Run> {
    const id = assertUuid(runId, 'run id');
    const run = await runs.getRun(this.driver, this.t, id);
    if (!run) throw new NotFoundError('run', id);
    return run;
  }

  /** The run's model calls, in order. */
  async getRunIterations(runId: string): Promise<Iteration[]> {
    const id = assertUuid(runId, 'run id');
    return listRunIterations(this.driver, this.t, id);
  }

  /** The run's tool executions, in the order the model asked for them. */
  async getRunTools(runId: string): Promise<ToolExecution[]> {
    const id = assertUuid(runId, 'run id');
    return (await listRunToolExecutions(this.driver, this.t, id)).map(({ iteration: _i, ...e }) => e);
  }

  /** Runs filtered by session, agent and state, newest first. Default limit 100. */
  async listRuns(options: ListRunsOptions = {}): Promise<Page<Run>> {
    const o = parseOrThrow(listRunsOptions, options, 'listRuns options');
    return runs.listRuns(this.driver, this.t, {
      sessionId: o.sessionId ?? null,
      agentId: o.agentId ?? null,
      states: o.state === undefined ? null : Array.isArray(o.state) ? o.state : [o.state],
      limit: o.limit ?? 100,
      offset: o.offset ?? 0,
    });
  }
}

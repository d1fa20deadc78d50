import { processBatchItem } from './batches/process-item.js';
import { BatchRunner } from './batches/runner.js';
import { BatchStore } from './batches/store.js';
import { FaultBook } from './faults.js';
import type { ModelCallDeps } from './model-call.js';
import { modelTable, type ModelSpec } from './models.js';
import type { ResolvedOptions } from './options.js';
import { PromptCache } from './prompt-cache.js';
import { RequestLog } from './request-log.js';
import { defaultResponder } from './responder/default.js';
import { ScriptBook } from './script.js';
import { Signer } from './signature.js';
import type { Responder } from './types.js';
import type { ApiVersion, ValidationContext } from './validation/context.js';

/** The emulator's state, shared by the HTTP routes and the batch runner. */
export class EmulatorCore implements ModelCallDeps {
  readonly models: Map<string, ModelSpec>;
  readonly log: RequestLog;
  readonly scripts = new ScriptBook();
  readonly faults = new FaultBook();
  readonly signer = new Signer();
  readonly cache: PromptCache;
  readonly runner: BatchRunner;
  readonly batches: BatchStore;
  customResponder: Responder | undefined;

  constructor(readonly opts: ResolvedOptions) {
    this.models = modelTable(opts.models);
    this.log = new RequestLog(opts.requestLogLimit);
    this.cache = new PromptCache(opts.clock);
    this.customResponder = opts.responder;
    this.runner = new BatchRunner(opts.clock, (item, batch) => processBatchItem(item, batch, this), opts.logger);
    this.batches = new BatchStore(opts.clock, this.runner);
  }

  responder(): Responder {
    return this.customResponder ?? defaultResponder;
  }

  minCacheableTokens(model: ModelSpec): number {
    return this.opts.minCacheableTokens ?? model.minCacheableTokens;
  }

  validation(apiVersion: string, betas: readonly string[], mode: ValidationContext['mode'] = 'batch'): ValidationContext {
    return {
      mode,
      apiVersion: apiVersion as ApiVersion,
      betas,
      models: this.models,
      strict: this.opts.strict,
      verifySignature: (thinking, signature) => this.signer.verify(thinking, signature),
    };
  }

  reset(): void {
    this.scripts.clear();
    this.faults.clear();
    this.log.clear();
    this.batches.clear();
    this.cache.clear();
  }

  close(): void {
    this.runner.close();
  }
}

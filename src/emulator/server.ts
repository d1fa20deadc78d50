import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EmulatorCore } from './core.js';
import { endpoint } from './pipeline.js';
import { batchResults, cancelBatch, createBatch, deleteBatch, getBatch, listBatches } from './routes/batches.js';
import { countTokens } from './routes/count-tokens.js';
import { createMessage } from './routes/messages.js';
import { getModel, listModels, unknownRoute } from './routes/models.js';

/** The API's routes. Unknown query parameters (e.g. an old SDK's `?beta=true`) are ignored everywhere. */
export function buildApp(core: EmulatorCore): Hono<{ Bindings: HttpBindings }> {
  const { limits } = core.opts;
  const small = limits.messagesBodyBytes;
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.post('/v1/messages', endpoint(core, createMessage, limits.messagesBodyBytes));
  app.post('/v1/messages/count_tokens', endpoint(core, countTokens, limits.countTokensBodyBytes));
  app.post('/v1/messages/batches', endpoint(core, createBatch, limits.batchBodyBytes));
  app.get('/v1/messages/batches', endpoint(core, listBatches, small));
  app.get('/v1/messages/batches/:id', endpoint(core, getBatch, small));
  app.delete('/v1/messages/batches/:id', endpoint(core, deleteBatch, small));
  app.post('/v1/messages/batches/:id/cancel', endpoint(core, cancelBatch, small));
  app.get('/v1/messages/batches/:id/results', endpoint(core, batchResults, small));
  app.get('/v1/models', endpoint(core, listModels, small));
  app.get('/v1/models/:id', endpoint(core, getModel, small));
  app.notFound(endpoint(core, unknownRoute, small));
  return app;
}

/** Starts an HTTP server for `app` and resolves once it listens. */
export async function listen(app: Hono<{ Bindings: HttpBindings }>, host: string, port: number): Promise<{ server: Server; port: number }> {
  // Leave the process's global Request/Response alone: the emulator often shares its process with the SDK under test.
  const server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

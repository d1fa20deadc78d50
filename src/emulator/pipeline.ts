import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { setTimeout as sleep } from 'node:timers/promises';
import { KNOWN_BETAS, parseBetas } from './betas.js';
import type { EmulatorCore } from './core.js';
import { ApiError, invalidRequest } from './errors.js';
import type { Fault, StreamDropFault, StreamErrorFault } from './faults.js';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { errorReply, jsonReply, readBody, sendReply, tooLarge, type Reply } from './http.js';
import { newId } from './ids.js';
import type { LoggedRequest } from './request-log.js';
import type { MessageRequest } from './types.js';
import { API_VERSIONS, type ApiVersion } from './validation/context.js';

/** One HTTP request on its way through the emulator, as routes see it. */
export interface Call {
  requestId: string;
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string>;
  /** Parsed JSON body (undefined when there was none). Use {@link jsonBody} to require one. */
  body: unknown;
  bodyIsJson: boolean;
  apiVersion: ApiVersion;
  betas: string[];
  /** Origin the client used to reach us (for absolute `results_url`). */
  origin: string;
  /** An injected stream fault for this call, if any. */
  streamFault?: StreamErrorFault | StreamDropFault;
  /** Destroys the connection without a response. */
  drop(): void;
  /** Destroys the connection once what was already written reached the kernel (a cut mid-response). */
  dropAfterFlush(): Promise<void>;
  /** Marks the log entry as a stream (it is logged when the stream starts). */
  markStream(): void;
  /** Notes the fault that shaped this response. */
  markFault(kind: Fault['kind']): void;
}

export type Route = (call: Call, core: EmulatorCore) => Promise<Reply>;

/** Returned by a route that destroyed the connection; never reaches the client. */
export const DROPPED: Reply = Object.freeze({ status: 599, headers: {}, body: null });

/** The body as JSON, or the API's 400 for a missing or malformed body. */
export function jsonBody(call: Call): unknown {
  if (call.body === undefined) throw invalidRequest('request body is required');
  if (!call.bodyIsJson) throw invalidRequest('There was an error parsing the body of your request: invalid JSON');
  return call.body;
}

/**
 * Wraps a route with what every API endpoint does, in the API's order: body size limit (413), authentication (401),
 * `anthropic-version` (400), `anthropic-beta` (strict only), then injected faults; stamps `request-id` on every
 * response and records the request in the log.
 */
export function endpoint(core: EmulatorCore, route: Route, bodyLimit: number) {
  return async (c: Context<{ Bindings: HttpBindings }>): Promise<Response> => {
    const { incoming, outgoing } = c.env;
    const requestId = newId('req');
    const url = new URL(incoming.url ?? '/', `http://${incoming.headers.host ?? 'localhost'}`);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(incoming.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const entry: LoggedRequest = {
      id: requestId,
      method: c.req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: undefined,
      time: new Date(core.opts.clock.now()),
      status: null,
      retryCount: Number(headers['x-stainless-retry-count'] ?? 0) || 0,
      stream: false,
    };
    let dropped = false;
    const call: Call = {
      requestId,
      method: c.req.method,
      path: url.pathname,
      params: c.req.param() as Record<string, string>,
      query: url.searchParams,
      headers,
      body: undefined,
      bodyIsJson: false,
      apiVersion: '2026-10-21',
      betas: [],
      origin: url.origin,
      drop: () => {
        dropped = true;
        incoming.socket.destroy();
      },
      dropAfterFlush: async () => {
        // destroy() discards data still buffered in the socket; wait until the events sent so far are out.
        const { socket } = incoming;
        const deadline = Date.now() + 1000;
        while ((!outgoing.headersSent || socket.writableLength > 0) && Date.now() < deadline) await sleep(1);
        socket.destroy();
      },
      markStream: () => {
        entry.stream = true;
      },
      markFault: (kind) => {
        entry.fault = kind;
      },
    };

    let reply: Reply;
    try {
      reply = await run(core, route, call, incoming, bodyLimit, entry);
    } catch (err) {
      if (!(err instanceof ApiError)) {
        core.opts.logger.error('emulator: unexpected error', { path: call.path, err: String(err) });
        err = new ApiError('api_error', 'Internal server error');
      }
      reply = errorReply(err as ApiError, requestId);
    }
    entry.status = dropped || reply === DROPPED ? null : reply.status;
    core.log.record(entry);
    if (reply !== DROPPED && !outgoing.destroyed) {
      reply.headers['request-id'] = requestId;
      await sendReply(outgoing, reply).catch((err: unknown) => {
        core.opts.logger.debug('emulator: writing the response failed', { path: call.path, err: String(err) });
        outgoing.destroy();
      });
    }
    return RESPONSE_ALREADY_SENT;
  };
}

async function run(
  core: EmulatorCore,
  route: Route,
  call: Call,
  incoming: IncomingMessage,
  bodyLimit: number,
  entry: LoggedRequest,
): Promise<Reply> {
  const read = await readBody(incoming, bodyLimit);
  if (read.kind === 'too_large') throw tooLarge(bodyLimit);
  if (read.bytes.byteLength > 0) {
    const text = read.bytes.toString('utf8');
    try {
      call.body = JSON.parse(text);
      call.bodyIsJson = true;
    } catch {
      call.body = text;
    }
    entry.body = call.body;
  }

  authenticate(call, core.opts.apiKey);
  call.apiVersion = checkVersion(call.headers['anthropic-version']);
  call.betas = parseBetas(call.headers['anthropic-beta']);
  if (core.opts.strict.betas) {
    const unknown = call.betas.filter((b) => !KNOWN_BETAS.has(b));
    if (unknown.length > 0)
      throw invalidRequest(
        `Unexpected value(s) \`${unknown.join(', ')}\` for the \`anthropic-beta\` header. Please consult our documentation at docs.claude.com or try again without the header.`,
      );
  }

  const body = call.body as Partial<MessageRequest> | undefined;
  const looksLikeMessages = typeof body === 'object' && body !== null && Array.isArray(body.messages);
  const stream = looksLikeMessages && body.stream === true && call.path === '/v1/messages';
  const fault = core.faults.take({
    at: 'http',
    method: call.method,
    path: call.path,
    stream,
    ...(looksLikeMessages
      ? { request: body as MessageRequest, context: { source: 'messages', stream, requestId: call.requestId, apiVersion: call.apiVersion } }
      : {}),
  });
  if (fault) {
    call.markFault(fault.kind);
    switch (fault.kind) {
      case 'http':
        return jsonReply(
          fault.status,
          { type: 'error', error: { type: fault.errorType, message: fault.message }, request_id: call.requestId },
          call.requestId,
          fault.headers,
        );
      case 'drop':
        call.drop();
        return DROPPED;
      case 'delay':
        await sleep(fault.ms);
        break;
      case 'stream_error':
      case 'stream_drop':
        call.streamFault = fault;
        break;
      default:
        break;
    }
  }
  return route(call, core);
}

function authenticate(call: Call, apiKey: string | undefined): void {
  // The API prefers x-api-key when both are sent.
  const bearer = /^Bearer\s+(.+)$/i.exec(call.headers.authorization ?? '')?.[1]?.trim();
  const key = call.headers['x-api-key'] ?? bearer;
  if (!key) throw new ApiError('authentication_error', 'x-api-key header is required');
  if (apiKey !== undefined && key !== apiKey) throw new ApiError('authentication_error', 'invalid x-api-key');
}

function checkVersion(v: string | undefined): ApiVersion {
  if (v === undefined || v === '') throw invalidRequest('anthropic-version: header is required');
  if (!(API_VERSIONS as readonly string[]).includes(v)) throw invalidRequest(`anthropic-version: "${v}" is not a valid version`);
  return v as ApiVersion;
}

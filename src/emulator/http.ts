import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import { ApiError } from './errors.js';

/**
 * What a route answers: written straight to Node's response. The emulator stays off the web Request/Response
 * objects on purpose: converting every call to and from web streams cost more CPU than the emulated model
 * itself, and the emulator shares its machine with the code under test.
 */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  /** A string is sent at once; chunks are written one by one, waiting for the socket to drain (SSE, JSONL). */
  body: string | AsyncIterable<string> | Iterable<string> | null;
}

/** A JSON reply with the headers every API response carries. */
export function jsonReply(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json', 'request-id': requestId, ...headers },
    body: JSON.stringify(body),
  };
}

export function errorReply(err: ApiError, requestId: string): Reply {
  return jsonReply(err.status, err.body(requestId), requestId, err.headers);
}

/** Writes a reply; chunked bodies stop quietly when the client goes away. */
export async function sendReply(res: ServerResponse, reply: Reply): Promise<void> {
  const { body } = reply;
  if (body === null || typeof body === 'string') {
    const headers = body === null ? reply.headers : { ...reply.headers, 'content-length': String(Buffer.byteLength(body)) };
    res.writeHead(reply.status, headers);
    res.end(body ?? undefined);
    return;
  }
  res.writeHead(reply.status, reply.headers);
  res.flushHeaders();
  for await (const chunk of body) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
  }
  if (!res.destroyed) res.end();
}

export type BodyRead = { kind: 'ok'; bytes: Buffer } | { kind: 'too_large'; bytes: number };

/**
 * Reads a request body, keeping at most `limit` bytes. An oversized body is still read to the end (and discarded)
 * so the client receives the 413 instead of a connection reset while it is still sending.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total <= limit) chunks.push(chunk);
    else chunks.length = 0;
  }
  if (total > limit) return { kind: 'too_large', bytes: total };
  return { kind: 'ok', bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
}

export function tooLarge(limit: number): ApiError {
  const mb = Math.round((limit / (1024 * 1024)) * 100) / 100;
  return new ApiError('request_too_large', `Request exceeds the maximum allowed number of bytes. The maximum request size is ${mb} MB.`);
}

import { ApiError } from './errors.js';

/** A JSON response with the headers every API response carries. */
export function jsonResponse(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'request-id': requestId, ...headers },
  });
}

export function errorResponse(err: ApiError, requestId: string): Response {
  return jsonResponse(err.status, err.body(requestId), requestId, err.headers);
}

export type BodyRead = { kind: 'ok'; bytes: Uint8Array } | { kind: 'too_large'; bytes: number };

/**
 * Reads a request body, keeping at most `limit` bytes. An oversized body is still read to the end (and discarded)
 * so the client receives the 413 instead of a connection reset while it is still sending.
 */
export async function readBody(body: ReadableStream<Uint8Array> | null, limit: number): Promise<BodyRead> {
  if (!body) return { kind: 'ok', bytes: new Uint8Array(0) };
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total <= limit) chunks.push(chunk);
    else chunks.length = 0;
  }
  if (total > limit) return { kind: 'too_large', bytes: total };
  return { kind: 'ok', bytes: Buffer.concat(chunks) };
}

export function tooLarge(limit: number): ApiError {
  const mb = Math.round((limit / (1024 * 1024)) * 100) / 100;
  return new ApiError('request_too_large', `Request exceeds the maximum allowed number of bytes. The maximum request size is ${mb} MB.`);
}

import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/**
 * The `fetch` agentpg gives the Anthropic SDK: the same requests, sent with Node's own `http`/`https` modules over
 * keep-alive connections instead of the global `fetch`. Measured with the SDK against the emulator, a streamed call
 * costs the worker about a third less CPU (bench/README.md), and model calls are most of a fast-mode run's CPU.
 *
 * What this transport does not handle goes to the global `fetch` unchanged: bodies other than strings (uploads),
 * URLs other than http(s), and redirects are passed back as they come (the Messages API does not redirect).
 * Compressed responses are decoded, although none is asked for.
 */
export function nodeFetch(): typeof fetch {
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true }),
  };
  const send = (url: URL, init: RequestInit): Promise<Response> =>
    new Promise((resolve, reject) => {
      const protocol = url.protocol as 'http:' | 'https:';
      const request = (protocol === 'https:' ? https : http).request(
        url,
        {
          method: init.method ?? 'GET',
          headers: plainHeaders(init.headers),
          agent: agents[protocol],
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          const headers = new Headers();
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
          const status = res.statusCode ?? 502;
          const empty = status === 204 || status === 205 || status === 304 || init.method === 'HEAD';
          if (empty) res.resume();
          // An abort after the headers must end the body as fetch does, with an AbortError: the SDK tells a caller's
          // abort from a broken connection by that name.
          const signal = init.signal;
          if (signal) {
            const onAbort = () => res.destroy(new DOMException('This operation was aborted', 'AbortError'));
            signal.addEventListener('abort', onAbort, { once: true });
            res.once('close', () => signal.removeEventListener('abort', onAbort));
          }
          resolve(
            new Response(empty ? null : (Readable.toWeb(decoded(res, headers)) as ReadableStream<Uint8Array>), {
              status,
              statusText: res.statusMessage ?? '',
              headers,
            }),
          );
        },
      );
      // on, not once: the socket can fail again after the response came (rejecting then is a no-op)
      request.on('error', reject);
      request.end(init.body ?? undefined);
    });

  return ((input: string | URL | Request, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? new URL(input) : input instanceof URL ? input : null;
    const plainBody = init.body === undefined || init.body === null || typeof init.body === 'string';
    if (!url || !plainBody || (url.protocol !== 'http:' && url.protocol !== 'https:')) return fetch(input, init);
    return send(url, init);
  }) as typeof fetch;
}

function plainHeaders(h: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(h)) for (const [k, v] of h as [string, string][]) out[k.toLowerCase()] = v;
  else for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = String(v);
  return out;
}

/** The body as the application sent it: a compressed body is decoded and its encoding headers dropped. */
function decoded(res: http.IncomingMessage, headers: Headers): Readable {
  const encoding = headers.get('content-encoding')?.trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : null;
  if (!decoder) return res;
  headers.delete('content-encoding');
  headers.delete('content-length');
  res.once('error', (err) => decoder.destroy(err));
  return res.pipe(decoder);
}

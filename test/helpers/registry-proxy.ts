/**
 * An HTTP proxy of the tests' own in front of a registry, to inject faults into what a client
 * sees: a blob body cut short, a flipped byte, an error status, a slow body, a Range ignored.
 * Everything else is forwarded as it is (method, path, headers, bodies streamed both ways), with
 * the client's Host kept and X-Forwarded-Proto set to http, so the Location headers the registry
 * sends (upload URLs) point back at the proxy; a Location naming the target itself is rewritten
 * to the proxy too.
 */
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import type { RegistryServer } from './registry.js';

export interface Faults {
  /**
   * GET …/blobs/sha256:…: destroy the socket after this many body bytes (times: how many responses,
   * default 1; match: only blob GETs whose path matches, e.g. one digest, the others not counted).
   */
  dropBlobAfter?: { bytes: number; times?: number; match?: RegExp };
  /** Flip (xor 0xff) the byte at this offset of the full blob (a 206's Content-Range accounted for); match as above. */
  corruptBlobByte?: { offset: number; times?: number; match?: RegExp };
  /** Answer requests whose `METHOD path` (path with its query) matches with this status instead of forwarding. */
  status?: { match: RegExp; status: number; times: number; retryAfter?: string };
  /** Slow blob GET bodies to about this rate. */
  throttle?: { bytesPerSecond: number };
  /** Strip Range from blob GETs (the registry answers 200 with the whole blob). */
  ignoreRange?: boolean;
}

export interface FaultProxy {
  host: string;
  url: string;
  /** Mutable between requests. `times` counts down as faults are injected. */
  faults: Faults;
  /** Every request, in the order answered. `range`: the Range the client sent. */
  requests: Array<{ method: string; path: string; status: number; range?: string }>;
  close(): Promise<void>;
}

const BLOB_PATH = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;

/** Takes one use of a fault with `times` (default 1): whether it applies to this response (of `path`). */
function take(fault: { times?: number; match?: RegExp } | undefined, path: string): boolean {
  if (!fault) return false;
  if (fault.match && !fault.match.test(path)) return false;
  const left = fault.times ?? 1;
  if (left <= 0) return false;
  fault.times = left - 1;
  return true;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startFaultProxy(target: RegistryServer | string): Promise<FaultProxy> {
  const targetUrl = new URL(typeof target === 'string' ? target : target.url);
  const ca = typeof target !== 'string' && target.caFile ? readFileSync(target.caFile) : undefined;
  const tls = targetUrl.protocol === 'https:';
  const agent = tls ? new HttpsAgent({ keepAlive: true, ...(ca ? { ca } : { rejectUnauthorized: false }) }) : new HttpAgent({ keepAlive: true });
  const faults: Faults = {};
  const requests: FaultProxy['requests'] = [];
  const sockets = new Set<Socket>();
  let proxyUrl = '';

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const record = (status: number): void => {
      requests.push({ method, path, status, ...(range !== undefined ? { range } : {}) });
    };

    const st = faults.status;
    if (st && st.times > 0 && st.match.test(`${method} ${path}`)) {
      st.times--;
      req.resume();
      const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected by the fault proxy: ${st.status}` }] });
      res.writeHead(st.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...(st.retryAfter !== undefined ? { 'retry-after': st.retryAfter } : {}),
      });
      res.end(body);
      record(st.status);
      return;
    }

    const blobGet = method === 'GET' && BLOB_PATH.test(path.split('?')[0]!);
    const headers: OutgoingHttpHeaders = { ...req.headers, 'x-forwarded-proto': 'http' };
    if (blobGet && faults.ignoreRange) {
      delete headers.range;
      delete headers['if-range'];
    }
    const upstream = (tls ? httpsRequest : httpRequest)({
      protocol: targetUrl.protocol,
      hostname: targetUrl.hostname,
      port: targetUrl.port,
      method,
      path,
      headers,
      agent,
    });
    upstream.on('error', (e) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${e.message}`);
        record(502);
      } else res.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);

    upstream.on('response', (up) => {
      const status = up.statusCode ?? 502;
      const out: OutgoingHttpHeaders = { ...up.headers };
      const location = up.headers.location;
      if (typeof location === 'string') {
        // Absolute URLs naming the target, or the proxy with the target's scheme: to the proxy.
        for (const from of [targetUrl.origin, `${targetUrl.protocol}//${req.headers.host ?? ''}`]) {
          if (location.startsWith(from + '/')) {
            out.location = proxyUrl + location.slice(from.length);
            break;
          }
        }
      }
      record(status);
      const body = blobGet && status >= 200 && status < 300;
      const drop = body && take(faults.dropBlobAfter, path) ? faults.dropBlobAfter! : undefined;
      const corrupt = body && take(faults.corruptBlobByte, path) ? faults.corruptBlobByte! : undefined;
      const throttle = body ? faults.throttle : undefined;
      if (!drop && !corrupt && !throttle) {
        res.writeHead(status, out);
        up.pipe(res);
        up.on('error', () => res.destroy());
        return;
      }
      // The body's first byte as an offset of the whole blob.
      let start = 0;
      const cr = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(String(up.headers['content-range'] ?? ''));
      if (status === 206 && cr) start = Number(cr[1]);
      res.writeHead(status, out);
      void (async () => {
        let sent = 0;
        try {
          for await (const c of up) {
            let chunk = c as Buffer;
            if (corrupt) {
              const at = corrupt.offset - (start + sent);
              if (at >= 0 && at < chunk.length) {
                chunk = Buffer.from(chunk);
                chunk[at] = chunk[at]! ^ 0xff;
              }
            }
            if (drop && sent + chunk.length >= drop.bytes) {
              const part = chunk.subarray(0, drop.bytes - sent);
              if (part.length > 0) await write(res, part);
              // Give the bytes a moment to leave before the socket goes.
              await sleep(20);
              res.socket?.destroy();
              res.destroy();
              up.destroy();
              return;
            }
            if (throttle) {
              const step = Math.max(1, Math.floor(throttle.bytesPerSecond / 20));
              for (let i = 0; i < chunk.length; i += step) {
                const piece = chunk.subarray(i, i + step);
                await write(res, piece);
                await sleep((piece.length / throttle.bytesPerSecond) * 1000);
              }
            } else await write(res, chunk);
            sent += chunk.length;
          }
          res.end();
        } catch {
          res.destroy();
          up.destroy();
        }
      })();
    });
  };

  const server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  proxyUrl = `http://${host}`;
  return {
    host,
    url: proxyUrl,
    faults,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        agent.destroy();
      }),
  };
}

/** res.write that waits for 'drain' when the socket's buffer is full; rejects when the response is gone. */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (res.destroyed) return reject(new Error('response closed'));
    if (res.write(chunk)) return resolve();
    const done = (): void => {
      res.off('close', gone);
      resolve();
    };
    const gone = (): void => {
      res.off('drain', done);
      reject(new Error('response closed'));
    };
    res.once('drain', done);
    res.once('close', gone);
  });
}

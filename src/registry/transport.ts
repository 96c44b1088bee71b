/**
 * HTTP for the registry client: Node's http/https modules with keep-alive agents, the system CA
 * store, plain HTTP only where allowed, redirects, and retries with backoff.
 *
 * Node's http rather than its fetch: fetch on Node 20 takes no CA list (the system store, or
 * /etc/docker/certs.d, would need the undici package), and a blob's body here is a Node stream
 * that goes straight into the layer apply, its socket's end seen as it happens (for a resume).
 */
import { readdirSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tls from 'node:tls';
import { abortError } from '../oci/source.js';

export interface TransportOptions {
  /** Registries (`host[:port]`) that may be reached over plain HTTP, as docker's insecure-registries. */
  insecureRegistries?: readonly string[];
  /** How many times a request is tried again after a 429, a 5xx or a dropped connection (default 5). */
  retries?: number;
  /** The first backoff in ms (default 250; doubled each time, with jitter, at most 8 s; Retry-After wins). */
  backoff?: number;
  signal?: AbortSignal;
  /** Extra PEM certificates to trust (beside the system store). */
  ca?: string;
}

export interface Request {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A body: bytes, or a function making the stream again for each try. */
  body?: Buffer | (() => Readable);
  /** Retried on 429/5xx and dropped connections (default: yes when the body can be made again). */
  retry?: boolean;
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** Whether an error is a connection that dropped (worth another try), not a refusal or a bad request. */
export function isDropped(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  return RETRY_CODES.has(err?.code ?? '') || err?.message === 'aborted' || err?.message === 'socket hang up' || err?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/** Docker's rule: loopback registries may be plain HTTP; others only when named insecure. */
export function mayUseHttp(host: string, insecure: readonly string[] = []): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name)) return true;
  return insecure.includes(host) || insecure.includes(name);
}

let systemCa: string[] | undefined;

/**
 * The system's CA store (Debian, RHEL, Alpine, SUSE bundles, or SSL_CERT_FILE), as OpenSSL
 * tools use it; Node's own bundle where none is found.
 */
export function systemCertificates(): string[] | undefined {
  if (systemCa) return systemCa;
  const getCa = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof getCa === 'function' && !process.env.SSL_CERT_FILE) {
    try {
      const certs = getCa('system');
      if (certs.length > 0) return (systemCa = certs);
    } catch {
      // older Node: below
    }
  }
  const files = [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem'];
  for (const f of files) {
    if (!f) continue;
    try {
      const pem = readFileSync(f, 'utf8');
      const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (certs && certs.length > 0) return (systemCa = certs);
    } catch {
      // next
    }
  }
  return undefined;
}

const contexts = new Map<string, tls.SecureContext>();

/**
 * A TLS context trusting the system store plus `extra`, made once per process for each set: given
 * as a CA list instead, Node parses every certificate of it again for each new connection (~45 ms
 * for Debian's 144 here).
 */
function secureContext(extra: readonly string[]): tls.SecureContext {
  const key = extra.join('\n');
  let ctx = contexts.get(key);
  if (!ctx) {
    const system = systemCertificates();
    ctx = tls.createSecureContext(system || extra.length > 0 ? { ca: [...(system ?? tls.rootCertificates), ...extra] } : {});
    contexts.set(key, ctx);
  }
  return ctx;
}

/** Docker's and podman's per-registry CAs: /etc/docker/certs.d/HOST/*.crt, /etc/containers/certs.d/HOST/*.crt. */
function registryCertificates(host: string): string[] {
  const out: string[] = [];
  for (const base of ['/etc/docker/certs.d', '/etc/containers/certs.d']) {
    const dir = join(base, host);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.crt')) out.push(readFileSync(join(dir, n), 'utf8'));
  }
  return out;
}

const delay = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** An HTTP date (RFC 9110 IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`). */
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Retry-After as ms (delay-seconds or an HTTP date), capped at 60 s; anything else: none (the backoff then). */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (v === undefined || v === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else if (HTTP_DATE.test(v)) ms = Date.parse(v) - now;
  else return undefined;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 60_000) : undefined;
}

export class Transport {
  readonly #options: TransportOptions;
  readonly #agents = new Map<string, http.Agent>();
  /** Hosts found to speak plain HTTP (an insecure one whose HTTPS failed). */
  readonly #plain = new Set<string>();

  constructor(options: TransportOptions = {}) {
    this.#options = options;
  }

  get signal(): AbortSignal | undefined {
    return this.#options.signal;
  }

  /** The scheme and host a registry is reached at: `https://host`, or `http://host` where HTTPS failed and HTTP is allowed. */
  base(host: string): string {
    return `${this.#plain.has(host) ? 'http' : 'https'}://${host}`;
  }

  mayUseHttp(host: string): boolean {
    return mayUseHttp(host, this.#options.insecureRegistries);
  }

  #agent(url: URL): http.Agent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      if (url.protocol === 'http:') agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      else if (this.mayUseHttp(url.host)) {
        // An insecure registry's certificate is not checked (docker's insecure-registries): no CA
        // store is loaded for it.
        agent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });
      } else {
        const extra = [...registryCertificates(url.host), ...(this.#options.ca ? [this.#options.ca] : [])];
        agent = new https.Agent({ keepAlive: true, maxSockets: 16, secureContext: secureContext(extra) });
      }
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** One request, no retry: the response with its body unread. */
  send(req: Request): Promise<IncomingMessage> {
    const signal = this.#options.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const mod = req.url.protocol === 'http:' ? http : https;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const r = mod.request(req.url, { method: req.method, headers: req.headers ?? {}, agent: this.#agent(req.url), ...(signal ? { signal } : {}) }, resolve);
      r.on('error', (e) => reject(signal?.aborted ? abortError(signal) : e));
      const body = req.body;
      if (body === undefined) r.end();
      else if (Buffer.isBuffer(body)) r.end(body);
      else {
        const s = body();
        s.on('error', (e) => r.destroy(e));
        s.pipe(r);
      }
    });
  }

  /**
   * A request tried again with backoff on 429, 5xx and dropped connections (Retry-After
   * honoured), following redirects (without the Authorization header to another host). An
   * insecure registry's HTTPS failing at the connection falls back to HTTP once.
   */
  async request(req: Request): Promise<IncomingMessage> {
    const retries = req.retry === false || (req.body !== undefined && !Buffer.isBuffer(req.body) && req.retry !== true) ? 0 : (this.#options.retries ?? 5);
    let attempt = 0;
    let url = req.url;
    let headers = { ...(req.headers ?? {}) };
    for (let redirects = 0; ; ) {
      let res: IncomingMessage;
      try {
        res = await this.send({ ...req, url, headers });
      } catch (e) {
        // (Requests sent side by side before the first one found out each fall back here.)
        if (url.protocol === 'https:' && this.mayUseHttp(url.host) && isTlsFailure(e)) {
          this.#plain.add(url.host);
          url = new URL(url.href.replace(/^https:/, 'http:'));
          continue;
        }
        if (attempt < retries && isDropped(e)) {
          await delay(this.#backoff(attempt++), this.#options.signal);
          continue;
        }
        throw e;
      }
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && status !== 304 && res.headers.location) {
        res.resume();
        if (++redirects > 10) throw new Error(`${req.method} ${req.url.href}: more than 10 redirects`);
        const next = new URL(res.headers.location, url);
        // The credentials stay with the origin they were for: not to another host, nor to the same
        // host over plain HTTP after an HTTPS redirect.
        if (next.origin !== url.origin) {
          const { authorization: _, Authorization: __, ...rest } = headers;
          headers = rest;
        }
        url = next;
        continue;
      }
      if (RETRY_STATUS.has(status) && attempt < retries) {
        const wait = retryAfterMs(res.headers['retry-after'] as string | undefined) ?? this.#backoff(attempt);
        attempt++;
        res.resume();
        await delay(wait, this.#options.signal);
        continue;
      }
      return res;
    }
  }

  #backoff(attempt: number): number {
    const base = this.#options.backoff ?? 250;
    const ms = Math.min(base * 2 ** attempt, 8000);
    return ms / 2 + Math.random() * (ms / 2);
  }

  close(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
  }
}

/** The failures of HTTPS against a server that speaks plain HTTP (or has no HTTPS port at all). */
function isTlsFailure(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException;
  // ECONNREFUSED: nothing on 443 (a registry at localhost:80 or on its plain port) — docker tries HTTP then.
  return (
    err?.code === 'EPROTO' ||
    err?.code === 'ECONNRESET' ||
    err?.code === 'ECONNREFUSED' ||
    /wrong version number|packet length too long|ssl3_get_record/i.test(err?.message ?? '')
  );
}

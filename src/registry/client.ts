/**
 * One registry's API (the OCI distribution spec, v2): manifests, blobs (streamed, resumed with
 * Range after a dropped connection), uploads and cross-repository mounts, behind the
 * authentication the registry asks for in its 401 (anonymous, Bearer token, Basic).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { digestMismatch, digestOf, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/image/types.js';
import { abortError } from '../oci/source.js';
import { OverlayError } from '../spec/errors.js';
import { findCredentials, parseChallenges, type AuthFileOptions, type Credentials } from './auth.js';
import { registryError, RegistryError } from './errors.js';
import { DOCKER_HUB_API } from './reference.js';
import { isDropped, Transport, type TransportOptions } from './transport.js';

export interface ClientOptions extends TransportOptions, AuthFileOptions {
  /** Credentials to use instead of those the auth files keep for the registry. */
  credentials?: Credentials;
}

/** What a manifest GET asks for, best first: indexes and manifests, OCI and Docker schema 2. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');
/** The largest manifest read (the distribution registry's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_RESUMES = 5;

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  /** sha256 of `bytes` (checked against the digest asked for, and against Docker-Content-Digest). */
  digest: Digest;
}

/** `repository:NAME:ACTIONS` scopes, the token's grant for a request. */
export const pullScope = (repo: string) => `repository:${repo}:pull`;
export const pushScope = (repo: string) => `repository:${repo}:pull,push`;

export class RegistryClient {
  /** The API host (`registry-1.docker.io` for docker.io). */
  readonly host: string;
  readonly domain: string;
  readonly transport: Transport;
  readonly #options: ClientOptions;
  #credentials: Promise<Credentials | undefined> | undefined;
  /** Authorization header values by the scopes they were granted for. */
  readonly #auth = new Map<string, string>();
  /** The scheme the registry asked for last (basic: one header serves every scope). */
  #basic = false;

  constructor(domain: string, options: ClientOptions = {}, transport?: Transport) {
    this.domain = domain;
    this.host = domain === 'docker.io' ? DOCKER_HUB_API : domain;
    this.#options = options;
    this.transport = transport ?? new Transport(options);
  }

  close(): void {
    this.transport.close();
  }

  credentials(): Promise<Credentials | undefined> {
    this.#credentials ??= this.#options.credentials ? Promise.resolve(this.#options.credentials) : findCredentials(this.domain, this.#options);
    return this.#credentials;
  }

  #url(path: string): URL {
    return /^https?:\/\//.test(path) ? new URL(path) : new URL(path, this.transport.base(this.host));
  }

  /**
   * A request with the Authorization the scopes need: on a 401 the challenge is answered (a
   * token from the realm, or Basic) and the request sent once more. The response is returned
   * whatever its status; its body unread.
   */
  async request(
    method: string,
    path: string,
    options: { scopes?: string[]; headers?: Record<string, string>; body?: Buffer | (() => Readable); retry?: boolean } = {},
  ): Promise<IncomingMessage> {
    const scopes = options.scopes ?? [];
    const key = this.#basic ? '' : scopes.slice().sort().join(' ');
    for (let round = 0; ; round++) {
      const auth = this.#auth.get(this.#basic ? '' : key);
      const headers: Record<string, string> = { 'user-agent': 'ovl (overlayfs for Node.js)', ...(options.headers ?? {}), ...(auth ? { authorization: auth } : {}) };
      const res = await this.transport.request({ method, url: this.#url(path), headers, ...(options.body !== undefined ? { body: options.body } : {}), ...(options.retry !== undefined ? { retry: options.retry } : {}) });
      if (res.statusCode !== 401 || round > 0) return res;
      const challenge = parseChallenges(String(res.headers['www-authenticate'] ?? ''));
      const bearer = challenge.find((c) => c.scheme === 'bearer');
      const basic = challenge.find((c) => c.scheme === 'basic');
      if (bearer?.params.realm) {
        res.resume();
        const wanted = [...new Set([...scopes, ...(bearer.params.scope ? bearer.params.scope.split(' ') : [])])];
        this.#auth.set(key, `Bearer ${await this.#token(bearer.params.realm, bearer.params.service, wanted)}`);
        continue;
      }
      const creds = basic ? await this.credentials() : undefined;
      if (basic && creds) {
        res.resume();
        this.#basic = true;
        this.#auth.set('', `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`);
        continue;
      }
      return res;
    }
  }

  /** A Bearer token from the registry's realm for `scopes` (with the stored credentials, when there are some). */
  async #token(realm: string, service: string | undefined, scopes: string[]): Promise<string> {
    const url = new URL(realm);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.transport.mayUseHttp(url.host))) {
      throw new OverlayError('ERR_REGISTRY', `${this.domain}: the token realm ${url.origin} is not HTTPS (credentials are sent only over HTTPS, or to a registry named insecure)`);
    }
    if (service !== undefined) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const creds = await this.credentials();
    if (creds) url.searchParams.set('account', creds.username);
    const headers: Record<string, string> = { 'user-agent': 'ovl (overlayfs for Node.js)' };
    if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    const res = await this.transport.request({ method: 'GET', url, headers });
    if (res.statusCode !== 200) {
      const e = await registryError(res, `${this.domain}: token from ${url.origin}${url.pathname}`);
      throw new RegistryError('ERR_REGISTRY', res.statusCode === 401 ? `${this.domain}: unauthorized: incorrect username or password` : e.message, e.status, e.errors);
    }
    const body = await readLimited(res, 1024 * 1024, `${this.domain}: token`);
    let doc: { token?: unknown; access_token?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new OverlayError('ERR_REGISTRY', `${this.domain}: the token realm answered with no JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token !== '' ? doc.token : doc.access_token;
    if (typeof token !== 'string' || token === '') throw new OverlayError('ERR_REGISTRY', `${this.domain}: the token realm answered with no token`);
    return token;
  }

  /** GET /v2/: whether the registry answers, and lets these credentials in (`docker login`'s check). */
  async ping(scopes: string[] = []): Promise<void> {
    const res = await this.request('GET', '/v2/', { scopes });
    if (res.statusCode === 200) {
      res.resume();
      return;
    }
    const e = await registryError(res, `${this.domain}`);
    if (res.statusCode === 401) throw new RegistryError('ERR_REGISTRY', `${this.domain}: unauthorized: ${(await this.credentials()) ? 'incorrect username or password' : 'authentication required'}`, 401, e.errors);
    throw e;
  }

  /** A manifest or index by tag or digest, its digest checked (against the one asked for, and the registry's header). */
  async manifest(repo: string, ref: string, what = `${this.domain}/${repo}:${ref}`): Promise<FetchedManifest> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, { scopes: [pullScope(repo)], headers: { accept: MANIFEST_ACCEPT } });
    if (res.statusCode === 404) {
      // docker's words: manifest for busybox:nope not found: manifest unknown: …
      const e = await registryError(res, what);
      throw new RegistryError('ERR_NOT_FOUND', `manifest for ${what} not found: ${e.message.slice(what.length + 2)}`, e.status, e.errors);
    }
    if (res.statusCode !== 200) throw await this.#pullError(res, repo, what);
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, `${what}: manifest`);
    const digest = digestOf(bytes);
    if (ref.startsWith('sha256:') && digest !== ref) throw digestMismatch(`${what}: manifest`, ref as Digest, digest);
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith('sha256:') && header !== digest) throw digestMismatch(`${what}: manifest (as the registry's Docker-Content-Digest names it)`, header as Digest, digest);
    let mediaType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim();
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
      if (typeof doc.mediaType === 'string') mediaType = doc.mediaType;
    } catch {
      throw new OverlayError('ERR_IMAGE', `${what}: the manifest is not JSON`);
    }
    return { bytes, mediaType, digest };
  }

  async #pullError(res: IncomingMessage, repo: string, what: string): Promise<RegistryError> {
    const e = await registryError(res, what);
    if (res.statusCode === 401 || res.statusCode === 403) {
      const familiar = this.domain === 'docker.io' ? repo.replace(/^library\//, '') : `${this.domain}/${repo}`;
      return new RegistryError('ERR_REGISTRY', `pull access denied for ${familiar}, repository does not exist or may require 'ovl login': ${e.message.slice(what.length + 2)}`, e.status, e.errors);
    }
    return e;
  }

  /**
   * A blob's bytes as a stream. A connection that drops mid-way is picked up where it stopped
   * (`Range`; a registry that ignores it is read from the start again and the bytes already
   * passed on skipped), up to 5 times. Not verified here: the consumer hashes it.
   */
  blob(repo: string, digest: Digest, signal?: AbortSignal, what = `${this.domain}/${repo}@${digest}`): Readable {
    const self = this;
    async function* body(): AsyncGenerator<Buffer> {
      let got = 0;
      for (let resumes = 0; ; ) {
        if (signal?.aborted) throw abortError(signal);
        const res = await self.request('GET', `/v2/${repo}/blobs/${digest}`, { scopes: [pullScope(repo)], headers: got > 0 ? { range: `bytes=${got}-` } : {} });
        let skip = 0;
        if (got > 0 && res.statusCode === 206) {
          const start = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
          if (Number(start) !== got) {
            res.destroy();
            throw new OverlayError('ERR_REGISTRY', `${what}: resumed at byte ${got}, the registry answered from byte ${start ?? '?'}`);
          }
        } else if (res.statusCode === 200) skip = got;
        else throw await self.#pullError(res, repo, `${what}: blob`);
        const onAbort = () => res.destroy(abortError(signal!));
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          for await (const chunk of res as AsyncIterable<Buffer>) {
            let c = chunk;
            if (skip > 0) {
              const n = Math.min(skip, c.length);
              skip -= n;
              c = c.subarray(n);
              if (c.length === 0) continue;
            }
            got += c.length;
            yield c;
          }
          return;
        } catch (e) {
          if (signal?.aborted) throw abortError(signal);
          if (!isDropped(e) || ++resumes > MAX_RESUMES) throw e;
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      }
    }
    return Readable.from(body(), { objectMode: false, highWaterMark: 1 << 20 });
  }

  /** Whether the repository has the blob (HEAD), and its size. */
  async hasBlob(repo: string, digest: Digest, scopes = [pushScope(repo)]): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await registryError(res, `${this.domain}/${repo}@${digest}: HEAD`);
  }

  /**
   * Asks the registry to mount a blob from another repository (no bytes move): true when it
   * did (201); false when it started an upload instead or refused (the upload is cancelled).
   */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      scopes: [pushScope(repo), pullScope(from)],
      headers: { 'content-length': '0' },
    });
    res.resume();
    if (res.statusCode === 201) return true;
    if (res.statusCode === 202 && res.headers.location) {
      const del = await this.request('DELETE', String(res.headers.location), { scopes: [pushScope(repo)] }).catch(() => undefined);
      del?.resume();
    }
    return false;
  }

  /** Starts an upload session; its URL. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes: [pushScope(repo)], headers: { 'content-length': '0' } });
    if (res.statusCode !== 202 || !res.headers.location) throw await registryError(res, `${this.domain}/${repo}: start an upload`);
    res.resume();
    return new URL(String(res.headers.location), this.transport.base(this.host)).href;
  }

  /** A blob whose bytes are at hand, in one PUT (monolithic upload). */
  async putBlob(repo: string, bytes: Buffer, digest: Digest): Promise<void> {
    const location = await this.startUpload(repo);
    const url = withDigest(location, digest);
    const res = await this.request('PUT', url, {
      scopes: [pushScope(repo)],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      body: bytes,
    });
    if (res.statusCode !== 201) throw await registryError(res, `${this.domain}/${repo}: upload ${digest}`);
    res.resume();
  }

  /**
   * A blob streamed in one PATCH (its length and digest known only at its end), then closed
   * with a PUT naming the digest `finish()` gives once the stream is read.
   */
  async streamBlob(repo: string, make: () => Readable, finish: () => Digest): Promise<Digest> {
    const location = await this.startUpload(repo);
    const patched = await this.request('PATCH', location, {
      scopes: [pushScope(repo)],
      headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      body: make,
      retry: false,
    });
    if (patched.statusCode !== 202) throw await registryError(patched, `${this.domain}/${repo}: upload`);
    patched.resume();
    const digest = finish();
    const next = new URL(String(patched.headers.location ?? location), location).href;
    const res = await this.request('PUT', withDigest(next, digest), { scopes: [pushScope(repo)], headers: { 'content-length': '0' } });
    if (res.statusCode !== 201) throw await registryError(res, `${this.domain}/${repo}: upload ${digest}`);
    res.resume();
    return digest;
  }

  /** Puts a manifest under a tag (or its digest); the digest the registry names it by. */
  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<void> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, {
      scopes: [pushScope(repo)],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    });
    if (res.statusCode !== 201) throw await registryError(res, `${this.domain}/${repo}:${ref}: put the manifest`);
    res.resume();
  }
}

function withDigest(location: string, digest: Digest): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.href;
}

/** A response's body, refused past `max` bytes. */
export async function readLimited(res: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) {
      res.destroy();
      throw new OverlayError('ERR_IMAGE', `${what}: over the ${max}-byte limit`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

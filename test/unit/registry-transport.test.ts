/**
 * The registry client's HTTP: Retry-After, which hosts may be plain HTTP, and Transport against
 * small HTTP servers of the test's own on 127.0.0.1 (retries, redirects, the HTTPS → HTTP
 * fallback of a loopback registry, an abort during a backoff); RegistryClient's answers to a 401
 * (Basic, Bearer tokens per scope, a realm that is not HTTPS).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { mayUseHttp, retryAfterMs, Transport } from '../../src/registry/transport.js';
import { tempDir } from '../helpers/tmp.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  it('delay-seconds and HTTP dates, as ms from now, between 0 and 60 s', () => {
    expect(retryAfterMs('0', now)).toBe(0);
    expect(retryAfterMs('5', now)).toBe(5000);
    expect(retryAfterMs(' 7 ', now)).toBe(7000);
    expect(retryAfterMs('120', now)).toBe(60_000);
    expect(retryAfterMs('Mon, 01 Jan 2024 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Mon, 01 Jan 2024 00:05:00 GMT', now)).toBe(60_000);
    // A date gone by: at once.
    expect(retryAfterMs('Sun, 31 Dec 2023 23:59:00 GMT', now)).toBe(0);
  });

  it('none or garbage: undefined (the backoff is used)', () => {
    expect(retryAfterMs(undefined, now)).toBeUndefined();
    expect(retryAfterMs('', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('5s', now)).toBeUndefined();
  });

  // RFC 9110 §10.2.3: Retry-After is delay-seconds (digits) or an HTTP-date. V8's Date.parse
  // takes far more than HTTP dates ('1.5' is 2001-01-05, 'x 2012' is 2012-01-01): such values are
  // not dates, and must not turn into "retry at once".
  it('values that are neither delay-seconds nor an HTTP-date are not read as dates', () => {
    for (const v of ['1.5', '-1', 'later 2012', '2']) {
      const got = retryAfterMs(v, now);
      if (v === '2') expect(got).toBe(2000);
      else expect(got, v).toBeUndefined();
    }
  });
});

describe('mayUseHttp', () => {
  it('loopback registries may be plain HTTP, others only when named insecure (with or without the port)', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1', '127.0.0.1:5000', '127.1.2.3:80', '[::1]:5000', '[::1]']) expect(mayUseHttp(h), h).toBe(true);
    for (const h of ['example.com', 'example.com:5000', 'localhost.example.com', '127.0.0.1.nip.io', '10.0.0.1:5000', 'registry-1.docker.io', '128.0.0.1:5000']) {
      expect(mayUseHttp(h), h).toBe(false);
    }
    expect(mayUseHttp('reg.lan:5000', ['reg.lan:5000'])).toBe(true);
    expect(mayUseHttp('reg.lan:5000', ['reg.lan'])).toBe(true);
    expect(mayUseHttp('reg.lan', ['reg.lan:5000'])).toBe(false);
    expect(mayUseHttp('reg.lan:5001', ['reg.lan:5000'])).toBe(false);
  });
});

// --- Transport against servers of the test's own -------------------------------------------

interface TestServer {
  host: string;
  url: string;
  seen: Array<{ method: string; url: string; authorization?: string; body: string }>;
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body: Buffer.concat(chunks).toString() });
      handler(req, res, seen.length);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const s: TestServer = {
    host,
    url: `http://${host}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const k of sockets) k.destroy();
      }),
  };
  servers.push(s);
  return s;
}

const text = async (res: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
};

describe('Transport', () => {
  it('429 and 5xx are tried again (Retry-After honoured) up to `retries`; then the answer is returned', async () => {
    const srv = await serve((_req, res, n) => {
      if (n <= 2) {
        res.writeHead(n === 1 ? 503 : 429, { 'retry-after': '0' });
        return res.end('busy');
      }
      res.end('ok');
    });
    const more = await serve((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    const t = new Transport({ backoff: 1 });
    const few = new Transport({ retries: 1, backoff: 1 });
    try {
      const res = await t.request({ method: 'GET', url: new URL(`${srv.url}/v2/`) });
      expect(res.statusCode).toBe(200);
      expect(await text(res)).toBe('ok');
      expect(srv.seen).toHaveLength(3);

      const r2 = await few.request({ method: 'GET', url: new URL(`${more.url}/x`) });
      expect(r2.statusCode).toBe(502);
      r2.resume();
      expect(more.seen).toHaveLength(2);
    } finally {
      t.close();
      few.close();
    }
  });

  it('a body made by a function is sent once, not retried unless asked; a Buffer body goes again with each try', async () => {
    const srv = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '0' });
      res.end();
    });
    const t = new Transport({ retries: 2, backoff: 1 });
    try {
      const streamed = await t.request({ method: 'PATCH', url: new URL(`${srv.url}/up`), body: () => Readable.from([Buffer.from('abc'), Buffer.from('def')]) });
      expect(streamed.statusCode).toBe(503);
      streamed.resume();
      expect(srv.seen.map((s) => s.body)).toEqual(['abcdef']);

      srv.seen.length = 0;
      const again = await t.request({ method: 'PATCH', url: new URL(`${srv.url}/up`), body: () => Readable.from([Buffer.from('xyz')]), retry: true });
      again.resume();
      expect(srv.seen.map((s) => s.body)).toEqual(['xyz', 'xyz', 'xyz']);

      srv.seen.length = 0;
      const buf = await t.request({ method: 'PUT', url: new URL(`${srv.url}/m`), body: Buffer.from('{}') });
      buf.resume();
      expect(srv.seen.map((s) => s.body)).toEqual(['{}', '{}', '{}']);
    } finally {
      t.close();
    }
  });

  it('a connection dropped before the answer is tried again', async () => {
    const srv = await serve((req, res, n) => {
      if (n === 1) return req.socket.destroy();
      res.end('second');
    });
    const t = new Transport({ backoff: 1 });
    try {
      const res = await t.request({ method: 'GET', url: new URL(`${srv.url}/v2/`) });
      expect(await text(res)).toBe('second');
      expect(srv.seen).toHaveLength(2);
    } finally {
      t.close();
    }
  });

  it('redirects are followed; Authorization goes along to the same host only', async () => {
    const other = await serve((_req, res) => res.end('blob bytes'));
    const srv = await serve((req, res) => {
      if (req.url === '/v2/a/blobs/x') {
        res.writeHead(307, { location: '/v2/a/blobs/y' });
        return res.end();
      }
      if (req.url === '/v2/a/blobs/y') {
        res.writeHead(302, { location: `${other.url}/storage/x?sig=1` });
        return res.end();
      }
      res.writeHead(404);
      res.end();
    });
    const t = new Transport();
    try {
      const res = await t.request({ method: 'GET', url: new URL(`${srv.url}/v2/a/blobs/x`), headers: { authorization: 'Bearer secret' } });
      expect(res.statusCode).toBe(200);
      expect(await text(res)).toBe('blob bytes');
      expect(srv.seen.map((s) => [s.url, s.authorization])).toEqual([
        ['/v2/a/blobs/x', 'Bearer secret'],
        ['/v2/a/blobs/y', 'Bearer secret'],
      ]);
      expect(other.seen).toEqual([{ method: 'GET', url: '/storage/x?sig=1', body: '' }]);
    } finally {
      t.close();
    }
  });

  // A redirect from HTTPS to plain HTTP on the same host name: the origin changes (scheme and
  // port), so the Authorization must not go along in clear text (Go's client and fetch drop it:
  // they compare host:port with the scheme's default port). Default ports are needed for the URLs'
  // `host` to be equal: 443 and 80 on 127.0.0.2 (root only).
  it.skipIf(process.getuid?.() !== 0)('a redirect from HTTPS to plain HTTP on the same host name: the Authorization is not sent in clear text', async () => {
    const dir = tempDir('ovl-tls-');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.2', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const seen: Array<{ scheme: string; url: string; authorization?: string }> = [];
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (req, res) => {
      seen.push({ scheme: 'https', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      res.writeHead(307, { location: 'http://127.0.0.2/storage/blob' });
      res.end();
    });
    const plain = createServer((req, res) => {
      seen.push({ scheme: 'http', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      res.end('bytes');
    });
    const listen = (srv: Server, port: number) =>
      new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '127.0.0.2', () => resolve());
      });
    await listen(tls, 443);
    try {
      await listen(plain, 80);
    } catch (e) {
      tls.close();
      throw e;
    }
    const t = new Transport();
    try {
      const res = await t.request({ method: 'GET', url: new URL('https://127.0.0.2/v2/a/blobs/x'), headers: { authorization: 'Bearer secret-token' } });
      expect(await text(res)).toBe('bytes');
      expect(seen).toEqual([
        { scheme: 'https', url: '/v2/a/blobs/x', authorization: 'Bearer secret-token' },
        { scheme: 'http', url: '/storage/blob' },
      ]);
    } finally {
      t.close();
      tls.closeAllConnections();
      plain.closeAllConnections();
      await Promise.all([new Promise((r) => tls.close(r)), new Promise((r) => plain.close(r))]);
    }
  });

  it('more than 10 redirects: an error', async () => {
    const srv = await serve((_req, res, n) => {
      res.writeHead(302, { location: `/r${n}` });
      res.end();
    });
    const t = new Transport();
    try {
      await expect(t.request({ method: 'GET', url: new URL(`${srv.url}/r0`) })).rejects.toThrow(/more than 10 redirects/);
      expect(srv.seen).toHaveLength(11);
    } finally {
      t.close();
    }
  });

  it('a loopback registry that speaks plain HTTP: HTTPS first, then HTTP, remembered (base() says http)', async () => {
    const srv = await serve((_req, res) => res.end('plain'));
    const t = new Transport();
    try {
      expect(t.base(srv.host)).toBe(`https://${srv.host}`);
      const res = await t.request({ method: 'GET', url: new URL(`https://${srv.host}/v2/`) });
      expect(await text(res)).toBe('plain');
      expect(t.base(srv.host)).toBe(`http://${srv.host}`);
    } finally {
      t.close();
    }
  });

  // `localhost/app` is a registry on port 80 when it speaks HTTP, on 443 over HTTPS: with nothing
  // on 443 the HTTPS try is refused, and docker then tries HTTP (it tries each endpoint of an
  // insecure registry in turn, whatever the first one's error). 127.0.0.2:80 (root only).
  it.skipIf(process.getuid?.() !== 0)('a loopback registry on port 80 with nothing on 443: HTTPS refused, then HTTP', async () => {
    const plain = createServer((_req, res) => res.end('plain on 80'));
    await new Promise<void>((resolve, reject) => {
      plain.once('error', reject);
      plain.listen(80, '127.0.0.2', () => resolve());
    });
    const t = new Transport({ retries: 0 });
    try {
      const res = await t.request({ method: 'GET', url: new URL('https://127.0.0.2/v2/') });
      expect(await text(res)).toBe('plain on 80');
      expect(t.base('127.0.0.2')).toBe('http://127.0.0.2');
    } finally {
      t.close();
      plain.closeAllConnections();
      await new Promise((r) => plain.close(r));
    }
  });

  it('an abort during a backoff rejects with AbortError at once (Retry-After: 30 not waited for)', async () => {
    const ac = new AbortController();
    const srv = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '30' });
      res.end();
      setImmediate(() => ac.abort());
    });
    const t = new Transport({ signal: ac.signal });
    try {
      const err = await t.request({ method: 'GET', url: new URL(`${srv.url}/v2/`) }).catch((e: Error) => e);
      expect(err).toMatchObject({ name: 'AbortError' });
      expect(srv.seen).toHaveLength(1);
      // Aborted already: nothing is sent.
      await expect(t.request({ method: 'GET', url: new URL(`${srv.url}/v2/`) })).rejects.toMatchObject({ name: 'AbortError' });
      expect(srv.seen).toHaveLength(1);
    } finally {
      t.close();
    }
  });
});

// --- RegistryClient's answers to 401, against servers of the test's own ----------------------

describe('RegistryClient auth', () => {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] });

  it('Basic: asked for by a 401, then sent with every request (no second 401 round)', async () => {
    const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const srv = await serve((req, res) => {
      if (req.headers.authorization !== basic) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="r"', 'content-type': 'application/json' });
        return res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(manifest);
    });
    const c = new RegistryClient(srv.host, { credentials: { username: 'u', password: 'p' } });
    try {
      await c.manifest('a/b', 'v1');
      await c.manifest('c/d', 'v2');
      // HTTPS first (not counted: no HTTP request reached the server), then HTTP.
      expect(srv.seen.map((s) => [s.url, s.authorization ?? null])).toEqual([
        ['/v2/a/b/manifests/v1', null],
        ['/v2/a/b/manifests/v1', basic],
        ['/v2/c/d/manifests/v2', basic],
      ]);
    } finally {
      c.close();
    }
  });

  it('Bearer: one token per set of scopes, asked with the credentials, reused', async () => {
    const token = await serve((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `T:${u.searchParams.getAll('scope').join('+')}` }));
    });
    const srv = await serve((req, res) => {
      const repo = /^\/v2\/(.+)\/manifests\//.exec(req.url ?? '')?.[1];
      if (req.headers.authorization !== `Bearer T:repository:${repo}:pull`) {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${token.url}/token",service="svc",scope="repository:${repo}:pull"` });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.end(manifest);
    });
    const c = new RegistryClient(srv.host, { credentials: { username: 'u', password: 'p' } });
    try {
      await c.manifest('a/b', 'v1');
      await c.manifest('a/b', 'v2');
      await c.manifest('c', 'v1');
      expect(token.seen.map((s) => [new URL(s.url, 'http://x').searchParams.toString(), s.authorization])).toEqual([
        ['service=svc&scope=repository%3Aa%2Fb%3Apull&account=u', `Basic ${Buffer.from('u:p').toString('base64')}`],
        ['service=svc&scope=repository%3Ac%3Apull&account=u', `Basic ${Buffer.from('u:p').toString('base64')}`],
      ]);
      expect(srv.seen.map((s) => s.authorization ?? null)).toEqual([null, 'Bearer T:repository:a/b:pull', 'Bearer T:repository:a/b:pull', null, 'Bearer T:repository:c:pull']);
    } finally {
      c.close();
    }
  });

  // [::ffff:127.0.0.1] is loopback, but not a name mayUseHttp allows plain HTTP for: were the
  // rule broken, the credentials would reach this test's own server, and be seen.
  it('a token realm over plain HTTP on a host not allowed HTTP: refused, the credentials never sent', async () => {
    const token = await serve((_req, res) => res.end('{"token":"t"}'));
    const port = token.host.slice(token.host.lastIndexOf(':') + 1);
    const srv = await serve((_req, res) => {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://[::ffff:127.0.0.1]:${port}/token",service="svc"` });
      res.end();
    });
    const c = new RegistryClient(srv.host, { credentials: { username: 'u', password: 'secret-pw' } });
    try {
      const err = await c.manifest('a', 'v1').catch((e: Error) => e);
      expect(err).toMatchObject({ code: 'ERR_REGISTRY' });
      expect((err as Error).message).toMatch(/not HTTPS/);
      expect((err as Error).message).not.toContain('secret-pw');
      expect(token.seen).toEqual([]);
    } finally {
      c.close();
    }
  });
});

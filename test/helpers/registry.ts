/**
 * A real registry for the tests: CNCF distribution (`docker-registry serve CONFIG.yml`, 2.8) on
 * 127.0.0.1, with no auth, htpasswd (Basic) or token auth, over HTTP or HTTPS with a self-signed
 * certificate. Token auth is served by an in-process token server (the Docker token spec: GET
 * realm?service=…&scope=…&account=…), whose RS256 JWTs carry the signing certificate in `x5c`,
 * the certificate the registry trusts as its `rootcertbundle`.
 *
 * skopeo() runs skopeo as an independent client. It is asynchronous on purpose: the token server
 * (and test/helpers/registry-proxy.ts) live in this process, so a synchronous child would leave
 * nobody to answer it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, sign, X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { describeWithTool } from './privileged.js';
import { onPath } from './tools.js';

export interface TokenServer {
  /** The realm: the registry's WWW-Authenticate sends clients here. */
  url: string;
  /** Every request to the realm, in order. `scope`: each scope the client asked for ('repository:repo:pull,push'). */
  requests: Array<{ scope: string[]; service?: string; account?: string; authorized: boolean }>;
}

export interface RegistryServer {
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http://127.0.0.1:PORT', or 'https://…' with tls. */
  url: string;
  /** The storage directory. */
  root: string;
  auth: 'none' | 'htpasswd' | 'token';
  /** The user that can push and pull (auth !== 'none'). */
  username?: string;
  password?: string;
  /** PEM of the self-signed server certificate (tls): trust it via SSL_CERT_FILE, `ca`, or a cert dir. */
  caFile?: string;
  /** auth === 'token' */
  token?: TokenServer;
  /** What the registry wrote to stdout and stderr so far (for failure messages). */
  log(): string;
  /** SIGTERM by pid, wait for the exit (SIGKILL after 5 s), stop the token server, remove the temp dirs. */
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'none' | 'htpasswd' | 'token';
  tls?: boolean;
}

const SERVICE = 'ovl-test-registry';
const ISSUER = 'ovl-test-issuer';
const LOG_LIMIT = 1 << 20;

/** null when docker-registry is on PATH, else why the registry tests cannot run. */
export const registryAvailable: string | null = onPath('docker-registry')
  ? null
  : 'docker-registry is not installed (CNCF distribution: apt-get install docker-registry)';

/**
 * describePrivileged() for a block that starts a registry: needs root (as every privileged test),
 * docker-registry, htpasswd and openssl (startRegistry runs them) and the `tools` given (e.g.
 * ['skopeo']) on PATH. Skipped with the reason in the name where one is missing; in CI=true as
 * root every test fails with it instead.
 */
export function describeWithRegistry(name: string, fn: () => void, tools: string[] = []): void {
  const all = ['docker-registry', 'htpasswd', 'openssl', ...tools];
  const missing = all.filter((t) => !onPath(t));
  // describeWithTool() gates on root first, then on its tool: hand it the first missing one (or
  // any, when none is), and name the others in the block's name.
  const also = missing.length > 1 ? ` [also missing: ${missing.slice(1).join(', ')}]` : '';
  describeWithTool(missing[0] ?? 'docker-registry', `${name}${also}`, fn);
}

/**
 * startRegistry(options) in beforeAll and stop() in afterAll, for a describe block; the log goes
 * to stderr after a failed test. The getter throws what made the start fail, so that in a gated
 * block (describeWithRegistry) each test fails with the gate's reason, and elsewhere with the
 * start's error, instead of one beforeAll failure hiding them.
 */
export function useRegistry(options: RegistryOptions = {}): () => RegistryServer {
  let reg: RegistryServer | undefined;
  let error: unknown;
  beforeAll(async () => {
    try {
      reg = await startRegistry(options);
    } catch (e) {
      error = e;
    }
  });
  afterAll(async () => {
    await reg?.stop();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && reg) console.error(`registry log (${reg.url}):\n${reg.log()}`);
  });
  return () => {
    if (reg) return reg;
    throw error ?? new Error('the registry is not started (useRegistry() is for beforeAll-time use in tests)');
  };
}

/** Children still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

function run(cmd: string, args: string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** GET url: the status, or null when nothing answered. */
function ping(url: string, ca?: Buffer): Promise<number | null> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method: 'GET', timeout: 2000, ...(ca ? { ca } : {}) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

interface TokenServerHandle extends TokenServer {
  close(): Promise<void>;
}

/** The token server: grants what a known user asks for; anonymous clients get an empty access list. */
async function startTokenServer(dir: string, username: string, password: string): Promise<TokenServerHandle & { certFile: string }> {
  const keyFile = join(dir, 'token-key.pem');
  const certFile = join(dir, 'token-cert.pem');
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=token-issuer', '-keyout', keyFile, '-out', certFile]);
  const key: KeyObject = createPrivateKey(readFileSync(keyFile));
  const x5c = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const requests: TokenServer['requests'] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://token');
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return reply(405, { errors: [{ code: 'UNSUPPORTED', message: 'GET only' }] });
    const scope = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
    const service = url.searchParams.get('service') ?? undefined;
    const account = url.searchParams.get('account') ?? undefined;
    const header = req.headers.authorization;
    let user: string | null = null;
    let authorized = false;
    if (header !== undefined) {
      const m = /^Basic\s+(\S+)$/i.exec(header);
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      const colon = decoded.indexOf(':');
      if (colon >= 0 && decoded.slice(0, colon) === username && decoded.slice(colon + 1) === password) {
        user = username;
        authorized = true;
      }
    }
    requests.push({ scope, ...(service !== undefined ? { service } : {}), ...(account !== undefined ? { account } : {}), authorized });
    if (header !== undefined && !authorized) {
      res.setHeader('www-authenticate', 'Basic realm="ovl-test-token"');
      return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
    }
    const access = authorized
      ? scope.flatMap((s) => {
          // type:name:actions; the name may hold ':' (a port), the type and the actions do not.
          const first = s.indexOf(':');
          const last = s.lastIndexOf(':');
          if (first < 0 || last === first) return [];
          return [{ type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',').filter(Boolean) }];
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const head = { typ: 'JWT', alg: 'RS256', x5c: [x5c] };
    const claims = { iss: ISSUER, sub: user ?? account ?? '', aud: service ?? SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signingInput = `${b64url(JSON.stringify(head))}.${b64url(JSON.stringify(claims))}`;
    const jwt = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
    reply(200, { token: jwt, access_token: jwt, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
  };

  const server = createHttpServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    requests,
    certFile,
    close: () => closeServer(server),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function configYaml(o: { port: number; root: string; auth: RegistryServer['auth']; htpasswd?: string; tokenRealm?: string; tokenCert?: string; tls?: { cert: string; key: string } }): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(o.root)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${JSON.stringify(o.tls.cert)}`, `    key: ${JSON.stringify(o.tls.key)}`);
  lines.push('health:', '  storagedriver:', '    enabled: false');
  if (o.auth === 'htpasswd') lines.push('auth:', '  htpasswd:', '    realm: ovl-test-registry', `    path: ${JSON.stringify(o.htpasswd)}`);
  if (o.auth === 'token') {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${JSON.stringify(o.tokenRealm)}`,
      `    service: ${SERVICE}`,
      `    issuer: ${ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(o.tokenCert)}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Waits for `child` to exit, or `ms`; whether it did. */
function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', done);
      resolve(false);
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', done);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    if (!(await waitExit(child, 5000))) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitExit(child, 5000);
    }
  }
  live.delete(child);
}

/**
 * Starts a registry on a free port of 127.0.0.1 and waits until GET /v2/ answers (200, or 401
 * with auth). Stop it with stop(), in afterAll/afterEach.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<RegistryServer> {
  const auth = options.auth ?? 'none';
  const dir = mkdtempSync(join(tmpdir(), 'ovl-registry-'));
  let token: (TokenServerHandle & { certFile: string }) | undefined;
  let child: ChildProcess | undefined;
  try {
    const root = join(dir, 'storage');
    const username = auth === 'none' ? undefined : 'ovl-user';
    const password = auth === 'none' ? undefined : `pw-${randomBytes(8).toString('hex')}`;
    let htpasswd: string | undefined;
    if (auth === 'htpasswd') {
      htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, run('htpasswd', ['-Bbn', username!, password!]));
    }
    if (auth === 'token') token = await startTokenServer(dir, username!, password!);
    let tls: { cert: string; key: string } | undefined;
    if (options.tls) {
      tls = { cert: join(dir, 'server-cert.pem'), key: join(dir, 'server-key.pem') };
      run('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', tls.key, '-out', tls.cert,
      ]);
    }
    const ca = tls ? readFileSync(tls.cert) : undefined;

    let log = '';
    const append = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
    };
    let lastError = '';
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = join(dir, 'config.yml');
      writeFileSync(
        config,
        configYaml({ port, root, auth, ...(htpasswd ? { htpasswd } : {}), ...(token ? { tokenRealm: token.url, tokenCert: token.certFile } : {}), ...(tls ? { tls } : {}) }),
      );
      const c = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      live.add(c);
      // Read both pipes to the end, always: a registry blocked on a full pipe stops answering.
      c.stdout!.on('data', append);
      c.stderr!.on('data', append);
      let spawnError: Error | undefined;
      c.once('error', (e) => (spawnError = e));
      const scheme = tls ? 'https' : 'http';
      const url = `${scheme}://127.0.0.1:${port}`;
      const deadline = Date.now() + 10_000;
      let status: number | null = null;
      while (Date.now() < deadline && c.exitCode === null && c.signalCode === null && !spawnError) {
        status = await ping(`${url}/v2/`, ca);
        if (status === 200 || status === 401) break;
        await sleep(50);
      }
      if (status === 200 || status === 401) {
        const started = c;
        const tokenServer = token;
        let stopped = false;
        const server: RegistryServer = {
          host: `127.0.0.1:${port}`,
          url,
          root,
          auth,
          ...(username !== undefined ? { username } : {}),
          ...(password !== undefined ? { password } : {}),
          ...(tls ? { caFile: tls.cert } : {}),
          ...(tokenServer ? { token: { url: tokenServer.url, requests: tokenServer.requests } } : {}),
          log: () => log,
          stop: async () => {
            if (stopped) return;
            stopped = true;
            await stopChild(started);
            await tokenServer?.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
        return server;
      }
      await stopChild(c);
      child = undefined;
      lastError = spawnError
        ? `cannot run docker-registry: ${spawnError.message}`
        : c.exitCode !== null || c.signalCode !== null
          ? `docker-registry exited (${c.exitCode ?? c.signalCode}) before it answered on port ${port}`
          : `docker-registry did not answer GET ${url}/v2/ within 10 s (last status: ${status ?? 'no answer'})`;
      if (spawnError) break;
      // An exit right away is most likely a port taken since freePort() saw it free: try another.
    }
    throw new Error(`${lastError}\n--- registry log ---\n${log}`);
  } catch (e) {
    if (child) await stopChild(child);
    await token?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Runs skopeo with exactly `args` (no flag added), env: this process's plus `options.env`.
 * Resolves to its output; rejects with its stderr when it fails (or after 120 s).
 */
export function skopeo(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      stderr += '\n[killed after 120 s]';
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 120_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`skopeo: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`skopeo ${args.join(' ')} failed (${code ?? signal}):\n${stderr}`));
    });
  });
}

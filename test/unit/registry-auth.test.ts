/**
 * Registry credentials in Docker's and podman's auth files (temp files, an `env` of the test's
 * own: never the real HOME), and the WWW-Authenticate challenges a registry answers 401 with.
 */
import fc from 'fast-check';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { authFiles, authKeyDomain, dockerConfigFile, findCredentials, parseChallenges, removeCredentials, storeCredentials } from '../../src/registry/auth.js';
import { tempDir } from '../helpers/tmp.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** An environment whose every auth location is under a fresh temp dir. */
function sandbox(): { dir: string; env: NodeJS.ProcessEnv; files: { registry: string; runtime: string; config: string; docker: string } } {
  const dir = tempDir('ovl-auth-');
  const env: NodeJS.ProcessEnv = {
    HOME: join(dir, 'home'),
    REGISTRY_AUTH_FILE: join(dir, 'registry-auth.json'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    DOCKER_CONFIG: join(dir, 'docker'),
  };
  return {
    dir,
    env,
    files: {
      registry: join(dir, 'registry-auth.json'),
      runtime: join(dir, 'run', 'containers', 'auth.json'),
      config: join(dir, 'config', 'containers', 'auth.json'),
      docker: join(dir, 'docker', 'config.json'),
    },
  };
}

function write(path: string, doc: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
}

describe('authKeyDomain', () => {
  it('an auths key as the registry it names', () => {
    expect(authKeyDomain('https://index.docker.io/v1/')).toBe('docker.io');
    expect(authKeyDomain('index.docker.io')).toBe('docker.io');
    expect(authKeyDomain('registry-1.docker.io')).toBe('docker.io');
    expect(authKeyDomain('docker.io')).toBe('docker.io');
    expect(authKeyDomain('http://127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(authKeyDomain('127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(authKeyDomain('HTTPS://ghcr.io/v2/')).toBe('ghcr.io');
    expect(authKeyDomain('ghcr.io')).toBe('ghcr.io');
    expect(authKeyDomain('quay.io/org')).toBe('quay.io');
  });
});

describe('auth files', () => {
  it('the search order: XDG_RUNTIME_DIR, XDG_CONFIG_HOME (or ~/.config), DOCKER_CONFIG (or ~/.docker); authFile alone when given', () => {
    const { env, files } = sandbox();
    delete env.REGISTRY_AUTH_FILE;
    expect(authFiles({ env })).toEqual([files.runtime, files.config, files.docker]);
    expect(authFiles({ env: { HOME: '/h' } })).toEqual(['/h/.config/containers/auth.json', '/h/.docker/config.json']);
    expect(authFiles({ authFile: '/x/auth.json', env })).toEqual(['/x/auth.json']);
    expect(dockerConfigFile({ env })).toBe(files.docker);
    expect(dockerConfigFile({ env: { HOME: '/h' } })).toBe('/h/.docker/config.json');
    expect(dockerConfigFile({ env: { HOME: '/h', DOCKER_CONFIG: '/d' } })).toBe('/d/config.json');
    expect(dockerConfigFile({ env: { HOME: '/h', REGISTRY_AUTH_FILE: '/r.json' } })).toBe('/r.json');
  });

  // auth.ts says: $REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR's, ~/.config's, *then* Docker's config.json.
  it('with REGISTRY_AUTH_FILE set, it is searched first and Docker config.json is still searched last (each once)', async () => {
    const { env, files } = sandbox();
    expect(authFiles({ env })).toEqual([files.registry, files.runtime, files.config, files.docker]);
    write(files.registry, { auths: { 'a.io': { auth: b64('a:a') } } });
    write(files.docker, { auths: { 'https://index.docker.io/v1/': { auth: b64('hub:h') } } });
    expect(await findCredentials('a.io', { env })).toEqual({ username: 'a', password: 'a' });
    expect(await findCredentials('docker.io', { env })).toEqual({ username: 'hub', password: 'h' });
  });

  it('findCredentials: the first file that has the registry wins; `auth` split at its first colon; username/password entries', async () => {
    const { env, files } = sandbox();
    delete env.REGISTRY_AUTH_FILE;
    write(files.runtime, { auths: { other: { auth: b64('o:o') } } });
    write(files.config, { auths: { 'http://127.0.0.1:5000': { auth: b64('podman:pw:with:colons') } } });
    write(files.docker, { auths: { '127.0.0.1:5000': { auth: b64('docker:second') }, 'https://index.docker.io/v1/': { auth: b64('hub:h') }, 'q.io': { username: 'u', password: 'p' } } });
    expect(await findCredentials('127.0.0.1:5000', { env })).toEqual({ username: 'podman', password: 'pw:with:colons' });
    expect(await findCredentials('docker.io', { env })).toEqual({ username: 'hub', password: 'h' });
    expect(await findCredentials('q.io', { env })).toEqual({ username: 'u', password: 'p' });
    expect(await findCredentials('other', { env })).toEqual({ username: 'o', password: 'o' });
    expect(await findCredentials('nowhere.io', { env })).toBeUndefined();
    // authFile: only that file.
    expect(await findCredentials('127.0.0.1:5000', { env, authFile: files.docker })).toEqual({ username: 'docker', password: 'second' });
    expect(await findCredentials('other', { env, authFile: files.docker })).toBeUndefined();
    // Missing files are passed over.
    expect(await findCredentials('x', { env, authFile: join(files.docker, 'missing') })).toBeUndefined();
  });

  it('an entry that decodes to no user:password is passed over (the next file is read)', async () => {
    const { env, files } = sandbox();
    delete env.REGISTRY_AUTH_FILE;
    write(files.runtime, { auths: { 'r.io': { auth: b64('no-colon') }, 's.io': { auth: '' }, 't.io': null } });
    write(files.docker, { auths: { 'r.io': { auth: b64('later:yes') }, 't.io': { auth: b64('t:t') } } });
    expect(await findCredentials('r.io', { env })).toEqual({ username: 'later', password: 'yes' });
    expect(await findCredentials('s.io', { env })).toBeUndefined();
    expect(await findCredentials('t.io', { env })).toEqual({ username: 't', password: 't' });
  });

  it('a file that is not JSON: an error naming the file, never its content', async () => {
    const { env, files } = sandbox();
    write(files.registry, '{"auths": {"r.io": {"auth": "c2VjcmV0LXBhc3N3b3Jk"}');
    const err = await findCredentials('r.io', { env }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(files.registry);
    expect((err as Error).message).not.toContain('c2VjcmV0LXBhc3N3b3Jk');
  });

  it('storeCredentials: Docker config.json by default, mode 0600, other keys and registries kept, the same registry under another key replaced', async () => {
    const { dir } = sandbox();
    const env = { HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker') };
    const file = join(dir, 'docker', 'config.json');
    write(file, { auths: { 'http://127.0.0.1:5000/': { auth: b64('old:old') }, 'ghcr.io': { auth: b64('g:g') } }, credHelpers: { 'ecr.io': 'ecr' }, psFormat: 'x' });
    expect(await storeCredentials('127.0.0.1:5000', { username: 'new', password: 'p:w' }, { env })).toBe(file);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc).toEqual({ auths: { 'ghcr.io': { auth: b64('g:g') }, '127.0.0.1:5000': { auth: b64('new:p:w') } }, credHelpers: { 'ecr.io': 'ecr' }, psFormat: 'x' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await findCredentials('127.0.0.1:5000', { env })).toEqual({ username: 'new', password: 'p:w' });

    // Docker Hub under docker login's key; a missing directory is made.
    const fresh = join(dir, 'fresh', 'nested', 'auth.json');
    await storeCredentials('docker.io', { username: 'hub', password: 'h' }, { authFile: fresh });
    expect(JSON.parse(readFileSync(fresh, 'utf8'))).toEqual({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:h') } } });
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    // REGISTRY_AUTH_FILE is where it goes when set.
    const sb = sandbox();
    expect(await storeCredentials('r.io', { username: 'a', password: 'b' }, { env: sb.env })).toBe(sb.files.registry);
  });

  it('removeCredentials: only that registry (under any of its keys); false when it had none', async () => {
    const { dir } = sandbox();
    const file = join(dir, 'auth.json');
    write(file, { auths: { 'https://index.docker.io/v1/': { auth: b64('a:a') }, 'docker.io': { auth: b64('b:b') }, 'ghcr.io': { auth: b64('g:g') } }, other: 1 });
    expect(await removeCredentials('docker.io', { authFile: file })).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auths: { 'ghcr.io': { auth: b64('g:g') } }, other: 1 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await removeCredentials('docker.io', { authFile: file })).toBe(false);
    expect(await removeCredentials('x.io', { authFile: join(dir, 'missing.json') })).toBe(false);
  });
});

describe('parseChallenges', () => {
  it("Docker Hub's Bearer challenge", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('quoted values with commas, spaces and escaped quotes; names and schemes lowercased; spaces around =', () => {
    expect(parseChallenges('BEARER Realm="https://a/t", scope="repository:a/b:pull,push repository:c:pull", error = "insufficient_scope", note="say \\"hi\\", \\\\ ok"')).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://a/t', scope: 'repository:a/b:pull,push repository:c:pull', error: 'insufficient_scope', note: 'say "hi", \\ ok' },
      },
    ]);
  });

  it('several challenges in one header', () => {
    expect(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://x/token",service="s" , Negotiate')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://x/token', service: 's' } },
      { scheme: 'negotiate', params: {} },
    ]);
    expect(parseChallenges('Basic realm=unquoted,Bearer realm=x')).toEqual([
      { scheme: 'basic', params: { realm: 'unquoted' } },
      { scheme: 'bearer', params: { realm: 'x' } },
    ]);
  });

  it('Basic realm, alone', () => {
    expect(parseChallenges('Basic realm="ovl-test-registry"')).toEqual([{ scheme: 'basic', params: { realm: 'ovl-test-registry' } }]);
    expect(parseChallenges('basic')).toEqual([{ scheme: 'basic', params: {} }]);
  });

  it('a token68 after the scheme is skipped', () => {
    expect(parseChallenges('Negotiate dXNlcjpwYXNz, Basic realm="r"')).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });

  it('a token68 ending in = padding is skipped too (not read as a parameter)', () => {
    expect(parseChallenges('Negotiate YWJjZA==, Basic realm="r"')).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });

  it('garbage does not throw', () => {
    for (const h of ['', ' ', ',,,', '"', '""""', '=', '==,=', 'Bearer realm="unterminated', 'Bearer realm=', 'Bearer ,,, realm', '\\', 'realm="x"', '\u0000\uffff', 'Bearer realm="a\\']) {
      expect(() => parseChallenges(h), JSON.stringify(h)).not.toThrow();
    }
    expect(parseChallenges('')).toEqual([]);
  });

  it('property: never throws, on any string; each challenge has a lowercase scheme', () => {
    const piece = fc.oneof(fc.string(), fc.constantFrom('Bearer', 'Basic', ' ', ',', '=', '"', '\\', 'realm', '="x"', 'a==', '\t'));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.array(piece).map((a) => a.join(''))), (h) => {
        const out = parseChallenges(h);
        for (const c of out) {
          expect(c.scheme).toBe(c.scheme.toLowerCase());
          expect(c.scheme).not.toBe('');
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/**
 * Registry credentials, where Docker and podman keep them: `$REGISTRY_AUTH_FILE`,
 * `$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`, then Docker's
 * `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`); each an `auths` map of
 * registry → `{ auth: base64(user:password) }`. And the `WWW-Authenticate` challenge (RFC 9110
 * §11.6.1) a registry answers 401 with. Credentials are never put in a message or a log.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeAtomic } from '../store/files.js';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface AuthFileOptions {
  /** One auth file to read and write instead of the search (as `--authfile`). */
  authFile?: string;
  env?: NodeJS.ProcessEnv;
}

/** The files searched, in order (the first that has the registry wins). */
export function authFiles(options: AuthFileOptions = {}): string[] {
  if (options.authFile !== undefined) return [options.authFile];
  const env = options.env ?? process.env;
  const home = env.HOME ?? homedir();
  const out: string[] = [];
  if (env.REGISTRY_AUTH_FILE) out.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) out.push(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  out.push(join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'containers', 'auth.json'));
  // Docker's own (not dockerConfigFile(): that is $REGISTRY_AUTH_FILE when it is set).
  out.push(join(env.DOCKER_CONFIG ?? join(home, '.docker'), 'config.json'));
  return out;
}

/** Docker's own file: where `ovl login` writes, as `docker login` does (unless an auth file is named). */
export function dockerConfigFile(options: AuthFileOptions = {}): string {
  if (options.authFile !== undefined) return options.authFile;
  const env = options.env ?? process.env;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
}

/** An `auths` key as the registry it names: `https://index.docker.io/v1/` is docker.io; scheme and path go. */
export function authKeyDomain(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

/** The key `docker login` writes for a registry. */
const authKeyFor = (domain: string): string => (domain === DOCKER_HUB ? 'https://index.docker.io/v1/' : domain);

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  [key: string]: unknown;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    const doc = JSON.parse(text) as unknown;
    return doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as AuthFile) : undefined;
  } catch {
    // A file that is not JSON is passed over, named, never printed (it holds secrets).
    throw new Error(`'${path}': not valid JSON (an auth file: {"auths": {…}})`);
  }
}

/** The credentials stored for `domain`, from the first auth file that has them. */
export async function findCredentials(domain: string, options: AuthFileOptions = {}): Promise<Credentials | undefined> {
  for (const file of authFiles(options)) {
    const doc = await readAuthFile(file);
    for (const [key, entry] of Object.entries(doc?.auths ?? {})) {
      if (authKeyDomain(key) !== domain || entry === null || typeof entry !== 'object') continue;
      const creds = decodeEntry(entry);
      if (creds) return creds;
    }
  }
  return undefined;
}

function decodeEntry(entry: { auth?: string; username?: string; password?: string }): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon > 0) return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** Stores credentials for `domain` as `docker login` does (the file's other content kept; mode 0600). */
export async function storeCredentials(domain: string, creds: Credentials, options: AuthFileOptions = {}): Promise<string> {
  const file = dockerConfigFile(options);
  const doc = (await readAuthFile(file)) ?? {};
  const auths = { ...(doc.auths ?? {}) };
  for (const key of Object.keys(auths)) if (authKeyDomain(key) === domain) delete auths[key];
  auths[authKeyFor(domain)] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeAtomic(file, `${JSON.stringify({ ...doc, auths }, null, '\t')}\n`, 0o600);
  return file;
}

/** Removes the credentials for `domain` (`docker logout`); whether there were any. */
export async function removeCredentials(domain: string, options: AuthFileOptions = {}): Promise<boolean> {
  const file = dockerConfigFile(options);
  const doc = await readAuthFile(file);
  if (!doc?.auths) return false;
  const keys = Object.keys(doc.auths).filter((k) => authKeyDomain(k) === domain);
  if (keys.length === 0) return false;
  const auths = { ...doc.auths };
  for (const k of keys) delete auths[k];
  await writeAtomic(file, `${JSON.stringify({ ...doc, auths }, null, '\t')}\n`, 0o600);
  return true;
}

export interface Challenge {
  /** Lowercase: `bearer`, `basic`. */
  scheme: string;
  /** Parameter names lowercase, values unquoted. */
  params: Record<string, string>;
}

/**
 * The challenges of a WWW-Authenticate header: `Bearer realm="https://auth.docker.io/token",
 * service="registry.docker.io",scope="repository:library/busybox:pull"`. Several challenges may
 * share one header, comma-separated: a token followed by a space (not `=`) starts the next one.
 */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (re: RegExp) => {
    while (i < n && re.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skip(/[\s,]/);
    const name = token();
    if (name === '') {
      i++; // a stray character: passed over
      continue;
    }
    const save = i;
    skip(/[ \t]/);
    if (header[i] === '=' && current) {
      // auth-param (token68 values, `abc==`, end in = too: only after a scheme has begun).
      i++;
      skip(/[ \t]/);
      let value: string;
      if (header[i] === '"') {
        i++;
        let v = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          v += header[i];
          i++;
        }
        i++;
        value = v;
      } else {
        const vs = i;
        while (i < n && header[i] !== ',' && !/\s/.test(header[i]!)) i++;
        value = header.slice(vs, i);
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    i = save;
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    // A token68 after the scheme (`Basic abc==`) is not used by registries: skipped to the next comma.
    skip(/[ \t]/);
    const peek = i;
    const next = token();
    skip(/[ \t]/);
    // A token68 is a token with only `=` padding after it (`YWJjZA==`); an auth-param has a value after its `=`.
    let pad = i;
    while (header[pad] === '=') pad++;
    const token68 = next !== '' && (header[i] !== '=' || pad >= n || header[pad] === ',' || /\s/.test(header[pad]!));
    if (token68) {
      while (i < n && header[i] !== ',') i++;
    } else i = peek;
  }
  return out;
}

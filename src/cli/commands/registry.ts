/**
 * ovl pull, push, login, logout: docker's commands and words over the registry client
 * (src/registry). Progress as docker pull and push draw it: a line per layer on a terminal,
 * plain settled lines without one, nothing with --json or --quiet.
 */
import { createInterface } from 'node:readline';
import type { PlatformSpec } from '../../oci/image/select.js';
import { logout as forget, login as remember } from '../../registry/login.js';
import { pull } from '../../registry/pull.js';
import { push } from '../../registry/push.js';
import { parseReference } from '../../registry/reference.js';
import type { ClientOptions } from '../../registry/client.js';
import { EXIT_OK, UsageError, type Values } from '../command.js';
import { shortId } from '../docker-format.js';
import { err, json, out, stdio } from '../output.js';
import { interruptible, LayerBoard } from '../progress.js';
import { storeOf } from '../store.js';

function platformOf(v: unknown): PlatformSpec | undefined {
  if (typeof v !== 'string') return undefined;
  const [os, architecture, variant, ...more] = v.split('/');
  if (!os || !architecture || more.length > 0) throw new UsageError(`--platform: '${v}' is not os/arch[/variant] (linux/amd64, linux/arm64/v8)`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** What every registry command takes: --insecure-registry (repeatable) and --authfile. */
function clientOptions(values: Values, signal?: AbortSignal): ClientOptions {
  const insecure = values['insecure-registry'];
  return {
    ...(Array.isArray(insecure) ? { insecureRegistries: insecure as string[] } : {}),
    ...(typeof values.authfile === 'string' ? { authFile: values.authfile } : {}),
    ...(signal ? { signal } : {}),
  };
}

/** ovl pull REF: docker pull's lines, then `Digest:`, `Status:` and the full reference. */
export async function pullCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length !== 1) throw new UsageError('expected one NAME[:TAG|@DIGEST]');
  const ref = parseReference(positionals[0]!);
  const platform = platformOf(values.platform);
  const quiet = values.quiet === true;
  const store = await storeOf(values);
  const talk = !quiet && values.json !== true;
  const arg = positionals[0]!;
  if (talk && !arg.includes('@') && !arg.slice(arg.lastIndexOf('/') + 1).includes(':')) out('Using default tag: latest');
  if (talk) out(`${ref.digest ?? ref.tag}: Pulling from ${ref.repository}`);
  const board = new LayerBoard({ json: !talk, plain: out });
  const ac = interruptible();
  try {
    const result = await pull(store, positionals[0]!, {
      ...clientOptions(values, ac.signal),
      ...(platform ? { platform } : {}),
      onProgress: (p) => {
        const id = shortId(p.digest);
        if (p.status === 'exists') board.set(id, 'Already exists', { settled: true });
        else if (p.status === 'waiting') board.set(id, 'Waiting');
        else if (p.status === 'applying') board.set(id, p.local ? 'Copying from the store' : p.bytes >= p.total ? 'Verifying Checksum' : 'Downloading', { bytes: p.bytes, total: p.total });
        else board.set(id, 'Pull complete', { settled: true });
      },
    });
    board.done();
    if (values.json) json(result);
    else if (quiet) out(result.reference);
    else {
      out(`Digest: ${result.digest}`);
      const shown = result.name ?? result.repoDigest;
      out(result.status === 'up to date' ? `Status: Image is up to date for ${shown}` : `Status: Downloaded newer image for ${shown}`);
      out(result.reference);
    }
    return EXIT_OK;
  } finally {
    ac.release();
    board.done();
  }
}

/** ovl push IMAGE [REF]: docker push's lines (`Pushed`, `Layer already exists`, `Mounted from`), then `TAG: digest: … size: …`. */
export async function pushCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected IMAGE [NAME[:TAG]] (IMAGE alone: pushed to its own name)');
  const [image, target = positionals[0]!] = positionals;
  const ref = parseReference(target);
  const quiet = values.quiet === true;
  const talk = !quiet && values.json !== true;
  const store = await storeOf(values);
  if (talk) out(`The push refers to repository [${ref.domain === 'docker.io' ? `docker.io/${ref.repository}` : ref.familiar}]`);
  const board = new LayerBoard({ json: !talk, plain: out });
  const ac = interruptible();
  try {
    const result = await push(store, image!, target, {
      ...clientOptions(values, ac.signal),
      onProgress: (p) => {
        const id = shortId(p.digest);
        if (p.status === 'preparing') board.set(id, 'Preparing');
        else if (p.status === 'exists') board.set(id, 'Layer already exists', { settled: true });
        else if (p.status === 'mounted') board.set(id, `Mounted from ${p.from ?? 'another repository'}`, { settled: true });
        else if (p.status === 'pushing') board.set(id, 'Pushing', { bytes: p.bytes });
        else board.set(id, 'Pushed', { settled: true });
      },
    });
    board.done();
    if (values.json) json(result);
    else if (quiet) out(result.reference);
    else out(`${ref.tag}: digest: ${result.digest} size: ${result.size}`);
    return EXIT_OK;
  } finally {
    ac.release();
    board.done();
  }
}

/** Reads a line from stdin (the password with --password-stdin: its end of line dropped, as docker). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Asks on the terminal; the answer not echoed when `secret`. */
async function ask(question: string, secret: boolean): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: stdio('stderr'), terminal: true });
  if (secret) {
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) write.call(rl, question);
    };
  }
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (secret) stdio('stderr').write('\n');
  }
}

/** ovl login [SERVER] -u USER (--password-stdin | -p PASS): docker login's checks and words. */
export async function loginCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError('expected at most one SERVER (default: Docker Hub)');
  if (values.password !== undefined && values['password-stdin']) throw new UsageError('--password and --password-stdin are mutually exclusive');
  let username = typeof values.username === 'string' ? values.username : undefined;
  let password: string | undefined;
  if (values['password-stdin']) {
    if (username === undefined) throw new UsageError('must provide --username with --password-stdin');
    password = await readStdin();
  } else if (typeof values.password === 'string') {
    err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.');
    password = values.password;
  }
  if ((username === undefined || password === undefined) && !process.stdin.isTTY) throw new UsageError('give --username and --password-stdin (stdin is not a terminal to ask on)');
  username ??= await ask('Username: ', false);
  password ??= await ask('Password: ', true);
  const done = await remember(positionals[0], { username, password }, clientOptions(values));
  if (values.json) json({ server: done.domain, file: done.file, status: 'Login Succeeded' });
  else out('Login Succeeded');
  return EXIT_OK;
}

/** ovl logout [SERVER]: docker logout's words. */
export async function logoutCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError('expected at most one SERVER (default: Docker Hub)');
  const server = positionals[0] ?? 'docker.io';
  const removed = await forget(server, clientOptions(values));
  if (values.json) json({ server, removed });
  else out(removed ? `Removing login credentials for ${server}` : `Not logged in to ${server}`);
  return EXIT_OK;
}


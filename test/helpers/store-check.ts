/**
 * For the store's crash and concurrency tests: store operations run in child processes
 * (test/helpers/store-child.mjs, on the built library) that can be killed or run side by side,
 * an independent consistency check of a store's files (it reads the records and directories
 * itself, not through the library), and the views images should give, to compare a mounted
 * container's merged view with.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { REPO } from './cli.js';
import { mountsUnder } from './tmp.js';

export const STORE_CHILD = join(REPO, 'test', 'helpers', 'store-child.mjs');

// --- views ---------------------------------------------------------------------------------

/** A layer's files as writeTree takes them: 'dir/file': content, 'dir/': null, 'dir/.wh.x': '' (a whiteout). */
export type Tree = Record<string, string | null>;

/** A merged view: '/a/b' → 'dir', 'file:<content>', 'link:<target>' or 'other:<mode>'. */
export type View = Map<string, string>;

/** `n` files of about `size` bytes under `prefix`, in 40 directories. */
export function bulkTree(prefix: string, n: number, size: number): Tree {
  const t: Tree = {};
  for (let i = 0; i < n; i++) t[`${prefix}/d${i % 40}/f${i}`] = `${prefix} ${i}\n`.padEnd(size, '.');
  return t;
}

/** What a directory shows (a merged view, read through the kernel). */
export function viewOf(root: string): View {
  const out: View = new Map();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const path = `${rel}/${name}`;
      const real = join(root, path);
      const st = lstatSync(real);
      if (st.isDirectory()) {
        out.set(path, 'dir');
        walk(path);
      } else if (st.isFile()) out.set(path, `file:${readFileSync(real, 'utf8')}`);
      else if (st.isSymbolicLink()) out.set(path, `link:${readlinkSync(real)}`);
      else out.set(path, `other:${st.mode.toString(8)}`);
    }
  };
  walk('');
  return out;
}

/** The view `layers` (bottom first) give, by the OCI rules: a later entry replaces, `.wh.x` deletes x. */
export function expectedView(layers: readonly Tree[]): View {
  const out: View = new Map();
  const dropUnder = (p: string) => {
    for (const k of [...out.keys()]) if (k.startsWith(`${p}/`)) out.delete(k);
  };
  const dir = (p: string) => {
    if (out.get(p) === 'dir') return;
    out.delete(p);
    out.set(p, 'dir');
  };
  for (const tree of layers) {
    for (const [rel, content] of Object.entries(tree)) {
      const parts = rel.split('/').filter(Boolean);
      for (let i = 1; i < parts.length; i++) dir(`/${parts.slice(0, i).join('/')}`);
      const name = parts.at(-1)!;
      if (name.startsWith('.wh.')) {
        const target = `/${[...parts.slice(0, -1), name.slice(4)].join('/')}`;
        out.delete(target);
        dropUnder(target);
        continue;
      }
      const p = `/${parts.join('/')}`;
      if (content === null) dir(p);
      else {
        dropUnder(p);
        out.set(p, `file:${content}`);
      }
    }
  }
  return out;
}

/** How `got` differs from `want`, at most `max` lines (empty: equal). */
export function viewDiff(want: View, got: View, max = 6): string[] {
  const out: string[] = [];
  const short = (v: string | undefined) => (v === undefined ? 'absent' : v.length > 40 ? `${v.slice(0, 40)}…` : v);
  for (const [k, v] of want) if (got.get(k) !== v) out.push(`${k}: want ${short(v)}, got ${short(got.get(k))}`);
  for (const [k, v] of got) if (!want.has(k)) out.push(`${k}: not expected, got ${short(v)}`);
  return out.length > max ? [...out.slice(0, max), `… ${out.length - max} more`] : out;
}

// --- child processes -------------------------------------------------------------------------

export interface ChildEvent {
  event: string;
  ok?: boolean;
  result?: unknown;
  error?: { code?: string; message: string; stack?: string };
  [k: string]: unknown;
}

export interface ChildEnd {
  /** Its result line, when it printed one (then it finished before any kill). */
  result?: ChildEvent;
  /** It printed its start line (the store was open; the operation began). */
  started: boolean;
  /** Milliseconds from its start line to its result line. */
  ms?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** A running store-child.mjs. */
export class StoreChild {
  readonly proc: ChildProcess;
  readonly ended: Promise<ChildEnd>;
  readonly #events: ChildEvent[] = [];
  readonly #waiters: Array<{ event: string; resolve: (e: ChildEvent) => void }> = [];
  #startedAt: number | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(args: readonly string[], options: { killAfterMs?: number } = {}) {
    this.proc = spawn(process.execPath, [STORE_CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    let out = '';
    let stderr = '';
    let result: ChildEvent | undefined;
    let ms: number | undefined;
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let e: ChildEvent;
        try {
          e = JSON.parse(line) as ChildEvent;
        } catch {
          stderr += `(stdout) ${line}\n`;
          continue;
        }
        if (e.event === 'start') {
          this.#startedAt = performance.now();
          if (options.killAfterMs !== undefined) this.#killTimer = setTimeout(() => this.kill(), options.killAfterMs);
        }
        if (e.event === 'result') {
          result = e;
          if (this.#startedAt !== undefined) ms = performance.now() - this.#startedAt;
        }
        this.#events.push(e);
        for (const w of this.#waiters.filter((x) => x.event === e.event)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
    this.proc.stdin!.on('error', () => {});
    this.ended = new Promise((resolve) => {
      this.proc.once('close', (code, signal) => {
        clearTimeout(this.#killTimer);
        live.delete(this);
        resolve({ ...(result ? { result } : {}), started: this.#startedAt !== undefined, ...(ms !== undefined ? { ms } : {}), code, signal, stderr });
      });
    });
  }

  /** The first `event` line (already printed or to come); fails if the child ends without it. */
  waitFor(event: string): Promise<ChildEvent> {
    const have = this.#events.find((e) => e.event === event);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      this.#waiters.push({ event, resolve });
      void this.ended.then((end) => {
        if (!this.#events.some((e) => e.event === event)) reject(new Error(`the child ended (${end.code ?? end.signal}) without '${event}': ${end.result ? JSON.stringify(end.result) : end.stderr}`));
      });
    });
  }

  /** A line on its stdin (the go of --gate and --pause-before-layer). */
  send(line = 'go'): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

const live = new Set<StoreChild>();

/** Runs the child to its end (or its kill); its end. */
export function runChild(args: readonly string[], options: { killAfterMs?: number } = {}): Promise<ChildEnd> {
  return new StoreChild(args, options).ended;
}

/** Its result, which must be a success. */
export function okResult<T>(end: ChildEnd): T {
  if (!end.result?.ok) throw new Error(`the child failed (${end.code ?? end.signal}): ${end.result ? JSON.stringify(end.result.error) : end.stderr}`);
  return end.result.result as T;
}

// Every child a test started is stopped when it ends (they are ours: killed by their own pid).
afterEach(async () => {
  const left = [...live];
  for (const c of left) c.kill();
  await Promise.all(left.map((c) => c.ended));
});

// --- the store's files, read independently ----------------------------------------------------

export interface LayerRec {
  chainId: string;
  diffId: string;
  parent?: string;
  cacheId: string;
  link: string;
  size: number;
}
export interface ImageRec {
  id: string;
  config: string;
  layers: Array<{ chainId: string }>;
}
export interface ContainerRec {
  id: string;
  name: string;
  image: string;
  parent?: string;
  cacheId: string;
  link: string;
}

export interface StoreFiles {
  layers: Map<string, LayerRec>;
  images: Map<string, ImageRec>;
  containers: Map<string, ContainerRec>;
  refs: Record<string, string>;
  problems: string[];
}

const TEMP = /\.tmp-\d+-[0-9a-f]+$/;
const HEX64 = /^[0-9a-f]{64}$/;
const sha256 = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

function records<T>(dir: string, problems: string[], key: (r: T) => string): Map<string, T> {
  const out = new Map<string, T>();
  if (!existsSync(dir)) return out;
  for (const n of readdirSync(dir)) {
    if (!n.endsWith('.json')) continue;
    let r: T;
    try {
      r = JSON.parse(readFileSync(join(dir, n), 'utf8')) as T;
    } catch (e) {
      problems.push(`${join(dir, n)}: not JSON (${(e as Error).message})`);
      continue;
    }
    const k = key(r);
    if (`${k.replace(/^sha256:/, '')}.json` !== n) problems.push(`${join(dir, n)}: names ${k}`);
    out.set(k, r);
  }
  return out;
}

/** The store's records, read from its files. */
export function readStoreFiles(root: string): StoreFiles {
  const problems: string[] = [];
  const layers = records<LayerRec>(join(root, 'layerdb', 'sha256'), problems, (r) => r.chainId);
  const images = records<ImageRec>(join(root, 'imagedb', 'sha256'), problems, (r) => r.id);
  const containers = records<ContainerRec>(join(root, 'containers'), problems, (r) => r.id);
  let refs: Record<string, string> = {};
  const repos = join(root, 'repositories.json');
  if (existsSync(repos)) {
    try {
      refs = (JSON.parse(readFileSync(repos, 'utf8')) as { refs: Record<string, string> }).refs;
    } catch (e) {
      problems.push(`${repos}: not JSON (${(e as Error).message})`);
    }
  }
  return { layers, images, containers, refs, problems };
}

/** The records' names, to tell whether an operation changed the store (reached a commit point). */
export function recordNames(root: string): string {
  const f = readStoreFiles(root);
  return JSON.stringify([[...f.layers.keys()].sort(), [...f.images.keys()].sort(), [...f.containers.keys()].sort(), Object.entries(f.refs).sort()]);
}

/**
 * Everything wrong with the store at `root`, as its layout promises it (empty: consistent):
 * every image has every layer record, chained by parent and by chainID; every record's directory
 * exists with its link file, its l/ link and its lower file; nothing in overlay/ or l/ that no
 * record names; no layer nothing uses; no temp file; every tag names an image; and, just after a
 * recovery (`recovered`, the default), no layer lock file.
 */
export function storeProblems(root: string, options: { recovered?: boolean } = {}): string[] {
  const { layers, images, containers, refs, problems } = readStoreFiles(root);
  const overlay = join(root, 'overlay');
  const chainOf = (top: string | undefined, who: string): LayerRec[] => {
    const out: LayerRec[] = [];
    for (let id = top; id !== undefined; ) {
      const l = layers.get(id);
      if (!l) {
        problems.push(`${who}: layer ${id} has no record`);
        break;
      }
      out.push(l);
      id = l.parent;
      if (out.length > 100) {
        problems.push(`${who}: parent loop`);
        break;
      }
    }
    return out;
  };

  for (const img of images.values()) {
    let parent: string | undefined;
    for (const [i, l] of img.layers.entries()) {
      const r = layers.get(l.chainId);
      if (!r) problems.push(`image ${img.id}: layer ${i} (${l.chainId}) has no record`);
      else {
        if (r.parent !== parent) problems.push(`image ${img.id}: layer ${i}'s parent is ${r.parent}, not ${parent}`);
        const want = parent === undefined ? r.diffId : sha256(`${parent} ${r.diffId}`);
        if (want !== r.chainId) problems.push(`layer ${r.chainId}: its chainID is not that of ${parent} + ${r.diffId}`);
      }
      parent = l.chainId;
    }
  }
  for (const [ref, id] of Object.entries(refs)) if (!images.has(id)) problems.push(`tag ${ref} names ${id}, which has no image record`);

  // Every record's directory, link file, short link and lower file.
  const owners = new Map<string, string>();
  const links = new Map<string, string>();
  const checkDir = (who: string, cacheId: string, link: string, parent: string | undefined, container: boolean) => {
    if (!HEX64.test(cacheId)) problems.push(`${who}: cache id '${cacheId}'`);
    if (owners.has(cacheId)) problems.push(`${who}: cache id ${cacheId} is also ${owners.get(cacheId)}'s`);
    owners.set(cacheId, who);
    if (links.has(link)) problems.push(`${who}: link ${link} is also ${links.get(link)}'s`);
    links.set(link, cacheId);
    const dir = join(overlay, cacheId);
    for (const sub of container ? ['diff', 'work', 'merged'] : ['diff']) {
      if (!statSync(join(dir, sub), { throwIfNoEntry: false })?.isDirectory()) problems.push(`${who}: ${join(dir, sub)} is missing`);
    }
    let linkFile: string | undefined;
    try {
      linkFile = readFileSync(join(dir, 'link'), 'utf8');
    } catch {
      /* reported below */
    }
    if (linkFile?.trim() !== link) problems.push(`${who}: ${join(dir, 'link')} holds ${JSON.stringify(linkFile)}, not ${link}`);
    let target: string | undefined;
    try {
      target = readlinkSync(join(overlay, 'l', link));
    } catch {
      /* reported below */
    }
    if (target !== `../${cacheId}/diff`) problems.push(`${who}: l/${link} → ${target ?? '(none)'}, not ../${cacheId}/diff`);
    const below = chainOf(parent, who);
    const wantLower = below.map((l) => `l/${l.link}`).join(':');
    const lower = existsSync(join(dir, 'lower')) ? readFileSync(join(dir, 'lower'), 'utf8') : undefined;
    if (wantLower === '' ? lower !== undefined : lower !== wantLower) problems.push(`${who}: lower is ${JSON.stringify(lower)}, not ${JSON.stringify(wantLower)}`);
  };
  for (const l of layers.values()) checkDir(`layer ${l.chainId}`, l.cacheId, l.link, l.parent, false);
  for (const c of containers.values()) checkDir(`container ${c.name}`, c.cacheId, c.link, c.parent, true);

  // Nothing in overlay/ or l/ that no record names.
  for (const n of existsSync(overlay) ? readdirSync(overlay) : []) {
    if (n !== 'l' && !owners.has(n)) problems.push(`overlay/${n}: no record names it`);
  }
  for (const n of existsSync(join(overlay, 'l')) ? readdirSync(join(overlay, 'l')) : []) {
    if (!links.has(n)) problems.push(`overlay/l/${n} (→ ${readlinkSync(join(overlay, 'l', n))}): no record has this link`);
  }

  // No layer nothing uses (an orphan the recovery should have removed).
  const used = new Set<string>();
  for (const img of images.values()) for (const l of img.layers) used.add(l.chainId);
  for (const c of containers.values()) for (const l of chainOf(c.parent, `container ${c.name}`)) used.add(l.chainId);
  for (const id of layers.keys()) if (!used.has(id)) problems.push(`layer ${id}: no image or container uses it (an orphan)`);

  // No temp file of an atomic write, no half-made volume, no layer lock file.
  const dirs = [root, join(root, 'layerdb'), join(root, 'layerdb', 'sha256'), join(root, 'imagedb'), join(root, 'imagedb', 'sha256'), join(root, 'containers'), join(root, 'volumes'), join(root, 'locks')];
  for (const id of owners.keys()) dirs.push(join(overlay, id));
  for (const d of dirs) {
    for (const n of existsSync(d) ? readdirSync(d) : []) {
      if (TEMP.test(n) || n.startsWith('.new-')) problems.push(`${join(d, n)}: a temp file left`);
    }
  }
  // Layer lock files are made on demand and left; the recovery removes them, and those of
  // containers that are gone (a container's own stays while it lives).
  const live = new Set((existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : []).map((n) => `container-${n.replace(/\.json$/, '')}.lock`));
  for (const n of options.recovered === false ? [] : existsSync(join(root, 'locks')) ? readdirSync(join(root, 'locks')) : []) {
    if (n !== 'gc.lock' && n !== 'gc-turnstile.lock' && n !== 'meta.lock' && !live.has(n)) problems.push(`locks/${n}: left after the recovery`);
  }
  return problems;
}

/**
 * Mounts every image the store lists as a new container (createContainer + mountContainer) and
 * compares its merged view with `expected(image)`; unmounts and removes each. The problems.
 */
export async function imageViewProblems(store: Store, expected: (img: ImageRec) => View | undefined): Promise<string[]> {
  const problems: string[] = [];
  const files = readStoreFiles(store.root);
  const listed = (await store.images()).map((i) => i.id).sort();
  const onDisk = [...files.images.keys()].sort();
  if (JSON.stringify(listed) !== JSON.stringify(onDisk)) problems.push(`images() lists ${listed.join(',')}, imagedb has ${onDisk.join(',')}`);
  for (const [n, id] of onDisk.entries()) {
    const img = files.images.get(id)!;
    const want = expected(img);
    if (!want) {
      problems.push(`image ${id}: not an image the test made`);
      continue;
    }
    const name = `check-${n}`;
    let c;
    try {
      c = await store.createContainer(id, { name });
    } catch (e) {
      problems.push(`image ${id}: createContainer: ${(e as Error).message}`);
      continue;
    }
    try {
      const m = await store.mountContainer(name);
      try {
        for (const d of viewDiff(want, viewOf(m.merged))) problems.push(`image ${id}: ${d}`);
      } finally {
        await store.unmountContainer(name);
      }
    } catch (e) {
      problems.push(`image ${id}: mount: ${(e as Error).message}`);
    } finally {
      if (mountsUnder(c.merged).length === 0) await store.removeContainer(name);
    }
  }
  return problems;
}

/** The image's last history entry's created_by (a commit's names its container). */
export function createdBy(img: ImageRec): string | undefined {
  const config = JSON.parse(img.config) as { history?: Array<{ created_by?: string }> };
  return config.history?.at(-1)?.created_by;
}

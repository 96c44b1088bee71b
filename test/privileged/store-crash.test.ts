/**
 * The store survives kill -9: each operation (import, create, mount, commit, image rm,
 * container rm, prune) runs in a child process (test/helpers/store-child.mjs, the built
 * library) that is SIGKILLed at random instants, from right after it starts to past its typical
 * length; after each kill the store is opened (its recovery runs) and checked by an independent
 * reading of its files (test/helpers/store-check.ts), every image it lists is mounted as a
 * container and its merged view compared with what its layers give, and every image that was
 * complete before the kill must still be there.
 *
 * The instants come from a seeded generator: STORE_CRASH_SEED=N reproduces a run (the seed is
 * printed, and named in every failure), STORE_CRASH_KILLS=N sets how many per operation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/image/types.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import { openStore, type Store } from '../../src/store/store.js';
import { layerTar } from '../helpers/images.js';
import { describePrivileged, skipReason } from '../helpers/privileged.js';
import {
  bulkTree,
  createdBy,
  expectedView,
  imageViewProblems,
  readStoreFiles,
  recordNames,
  runChild,
  storeProblems,
  viewDiff,
  viewOf,
  type ChildEnd,
  type ImageRec,
  type StoreFiles,
  type Tree,
  type View,
} from '../helpers/store-check.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

const KILLS = Number(process.env.STORE_CRASH_KILLS ?? 20);
const SEED = Number(process.env.STORE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32, seeded by the run's seed and the operation (so one operation alone reproduces). */
function rngFor(op: string): () => number {
  let a = SEED;
  for (const ch of op) a = (Math.imul(a ^ ch.charCodeAt(0), 0x9e3779b1) + 0x7f4a7c15) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The images: layers big enough (hundreds of files and a few MB) that a kill lands mid-apply,
// a whiteout and a changed file in app's upper layer, and other's layer gzip'd. (Not thousands
// of files: on a slow disk each costs a millisecond, many times over for every kill.)
const big = (seed: string, mb: number): string => `${seed}\n`.padEnd(64, '-').repeat((mb * 1024 * 1024) / 64);
const B0: Tree = { ...bulkTree('usr/base', 400, 600), 'usr/lib/big.so': big('base', 3), 'etc/os-release': 'base\n', 'etc/motd': 'hello\n', 'etc/gone': 'gone\n' };
const A1: Tree = { ...bulkTree('app', 150, 600), 'app/big.bin': big('app', 1), 'etc/motd': 'app\n', 'etc/.wh.gone': '' };
const O0: Tree = { ...bulkTree('opt/other', 300, 800), 'opt/other/big.dat': big('other', 2), 'etc/os-release': 'other\n' };
const TREES = { base: [B0], app: [B0, A1], other: [O0] } as const;
type Name = keyof typeof TREES;

/** What a container's commit adds: files, a big one, a changed one, a deleted one (a whiteout). */
const CHANGES: Tree = { ...bulkTree('srv/new', 200, 500), 'srv/new/big.db': big('commit', 2), 'etc/motd': 'committed\n', 'usr/base/d0/.wh.f0': '' };
/** What fills a container's writable layer before it is removed or pruned. */
const FILL: Tree = { ...bulkTree('data', 150, 400), 'data/big.log': big('fill', 1) };

let work: string;
let layout: string;
const ids = {} as Record<Name, string>;
const views = new Map<string, View>();

beforeAll(async () => {
  if (skipReason !== null) return;
  work = mkdtempSync(join(tmpdir(), 'ovl-store-crash-images-'));
  layout = join(work, 'layout');
  const b0 = layerTar(B0);
  const a1 = layerTar(A1);
  const o0 = layerTar(O0);
  const written = {
    base: await writeOciLayout(layout, { layers: [{ data: b0 }], ref: 'base' }),
    app: await writeOciLayout(layout, { layers: [{ data: b0 }, { data: a1 }], ref: 'app' }),
    other: await writeOciLayout(layout, { layers: [{ data: gzipSync(o0), mediaType: MediaType.ociLayerGzip }], ref: 'other' }),
  };
  for (const name of Object.keys(TREES) as Name[]) {
    ids[name] = written[name].configDigest;
    views.set(ids[name], expectedView(TREES[name]));
  }
  console.log(`store-crash: seed ${SEED} (STORE_CRASH_SEED=${SEED} reproduces), ${KILLS} kills per operation`);
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** One kill's preparation: the child's arguments (after OP ROOT), and what to check after. */
interface Step {
  args: string[];
  /** Images the operation may remove (they need not survive it). */
  mayGo?: string[];
  /** Problems particular to the operation, after the kill and the recovery. */
  check?: (store: Store, end: ChildEnd, now: StoreFiles) => Promise<string[]>;
}

interface Scenario {
  op: string;
  /** Default: STORE_CRASH_KILLS. */
  kills?: number;
  setup(store: Store): Promise<void>;
  prepare(store: Store, i: number): Promise<Step>;
  expected?(img: ImageRec): View | undefined;
  teardown?(store: Store): Promise<void>;
}

const knownView = (img: ImageRec): View | undefined => views.get(img.id);

/** Its result, when the child finished before the kill: a failure is a failure of the test. */
function finished(end: ChildEnd): { ok: boolean; result?: unknown } | undefined {
  if (!end.result) return undefined;
  if (!end.result.ok) throw new Error(`the operation failed by itself: ${JSON.stringify(end.result.error)}`);
  return { ok: true, result: end.result.result };
}

/** Image `name` in the store, and tagged `name:1` unless `tagged` is false (an rm killed after the untag leaves it dangling). */
async function ensureImage(store: Store, name: Name, tagged = true): Promise<void> {
  const files = readStoreFiles(store.root);
  if (!files.images.has(ids[name])) await store.importImage(layout, { ref: name, ...(tagged ? { tag: `${name}:1` } : {}) });
  else if (tagged && files.refs[`${name}:1`] !== ids[name]) await store.tag(ids[name], `${name}:1`);
}

async function removeImageIfThere(store: Store, id: string): Promise<void> {
  if (readStoreFiles(store.root).images.has(id)) await store.removeImage(id);
}

function containerNamed(files: StoreFiles, name: string) {
  return [...files.containers.values()].find((c) => c.name === name);
}

/** A container `name` of `image` with FILL in its writable layer (made when missing). */
async function filledContainer(store: Store, image: string, name: string): Promise<void> {
  if (containerNamed(readStoreFiles(store.root), name)) return;
  await store.createContainer(image, { name });
  const c = containerNamed(readStoreFiles(store.root), name)!;
  writeTree(join(store.root, 'overlay', c.cacheId, 'diff'), FILL);
}

/** A container whose record survived must have all of its writable layer (records go first). */
function fillIntact(store: Store, name: string, now: StoreFiles): string[] {
  const c = containerNamed(now, name);
  if (!c) return [];
  return viewDiff(expectedView([FILL]), viewOf(join(store.root, 'overlay', c.cacheId, 'diff'))).map((d) => `container ${name} (its record kept): ${d}`);
}

/** What recovery removed, by kind. */
function cleanedKinds(store: Store): string[] {
  const kinds = new Set<string>();
  for (const p of store.recovery.removed) {
    if (/\.tmp-\d+-[0-9a-f]+$/.test(p)) kinds.add('temp file');
    else if (p.includes('/layerdb/')) kinds.add('layer record');
    else if (p.includes('/overlay/l/')) kinds.add('link');
    else if (p.includes('/overlay/')) kinds.add('directory');
    else kinds.add('other');
  }
  if (store.recovery.repaired.length > 0) kinds.add('repaired');
  return [...kinds].sort();
}

async function crashLoop(sc: Scenario): Promise<void> {
  const root = join(tempDir('ovl-store-crash-'), 'store');
  let store = await openStore({ root });
  const expected = sc.expected ?? knownView;
  await sc.setup(store);
  expect(storeProblems(root, { recovered: false })).toEqual([]);

  // Its typical length, from an uninterrupted run.
  const cal = await sc.prepare(store, -1);
  const calEnd = await runChild([sc.op, root, ...cal.args]);
  expect(finished(calEnd), `${sc.op} (not killed): ${calEnd.stderr}`).toBeDefined();
  store = await openStore({ root });
  expect([...storeProblems(root), ...((await cal.check?.(store, calEnd, readStoreFiles(root))) ?? [])]).toEqual([]);
  const typical = calEnd.ms!;

  const rng = rngFor(sc.op);
  const outcomes = new Map<string, number>();
  const kills = sc.kills ?? KILLS;
  for (let i = 0; i < kills; i++) {
    const step = await sc.prepare(store, i);
    const before = readStoreFiles(root);
    const beforeNames = recordNames(root);
    const delay = i === 0 ? 0 : rng() * typical * 1.3;
    const end = await runChild([sc.op, root, ...step.args], { killAfterMs: delay });
    const where = `${sc.op}: kill #${i} ${delay.toFixed(1)} ms after the start (it takes ~${typical.toFixed(0)} ms; STORE_CRASH_SEED=${SEED})`;
    expect(end.started, `${where}: the child did not start: ${end.stderr}`).toBe(true);
    const done = finished(end);

    store = await openStore({ root });
    expect(store.recovery.ran, where).toBe(true);
    const now = readStoreFiles(root);
    const problems = storeProblems(root);
    for (const id of before.images.keys()) {
      if (!now.images.has(id) && !step.mayGo?.includes(id)) problems.push(`image ${id} was complete before the kill, and is gone`);
    }
    problems.push(...((await step.check?.(store, end, now)) ?? []));
    problems.push(...(await imageViewProblems(store, expected)));
    expect(problems, where).toEqual([]);

    const changed = recordNames(root) !== beforeNames;
    const kinds = cleanedKinds(store);
    const outcome = done ? 'finished before the kill' : `${changed ? 'past a commit point' : 'before any commit point'}${kinds.length ? `, recovery: ${kinds.join('+')}` : ''}`;
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  await sc.teardown?.(store);
  const lines = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `    ${n} × ${k}`);
  console.log(`store-crash ${sc.op}: ${kills} kills over 0–${(typical * 1.3).toFixed(0)} ms (typical ${typical.toFixed(0)} ms)\n${lines.join('\n')}`);
  expect(mountsUnder(root)).toEqual([]);
}

const TIMEOUT = 120_000;

describePrivileged('the store survives kill -9 of each operation', () => {
  it('import (of an image sharing the base layer, and of one sharing nothing)', async () => {
    await crashLoop({
      op: 'import',
      setup: (s) => ensureImage(s, 'base'),
      async prepare(s, i) {
        const t: Name = i % 2 ? 'other' : 'app';
        await removeImageIfThere(s, ids[t]);
        return {
          args: [layout, t, `${t}:1`],
          async check(_s, end, now) {
            if (!finished(end)) return [];
            return now.images.has(ids[t]) && now.refs[`${t}:1`] === ids[t] ? [] : [`the import of ${t} finished, and ${t}:1 is not there`];
          },
        };
      },
    });
  }, TIMEOUT);

  it('container create', async () => {
    await crashLoop({
      op: 'create',
      setup: async (s) => ensureImage(s, 'app'),
      async prepare(_s, i) {
        const name = `c${i + 1}`;
        return {
          args: ['app:1', name],
          async check(s, end, now) {
            const c = containerNamed(now, name);
            if (finished(end) && !c) return [`container ${name} was created, and is not there`];
            if (!c) return [];
            // It mounts and shows its image; then it goes (the next kill starts from the same store).
            const problems: string[] = [];
            const m = await s.mountContainer(name);
            try {
              problems.push(...viewDiff(views.get(ids.app)!, viewOf(m.merged)).map((d) => `container ${name}: ${d}`));
            } finally {
              await s.unmountContainer(name);
            }
            await s.removeContainer(name);
            return problems;
          },
        };
      },
    });
  }, TIMEOUT);

  it('container mount', async () => {
    await crashLoop({
      op: 'mount',
      // Short (a mount and a record), and not among the issue's: half as many.
      kills: Math.ceil(KILLS / 2),
      setup: async (s) => {
        await ensureImage(s, 'app');
        await s.createContainer('app:1', { name: 'm' });
      },
      async prepare() {
        return {
          args: ['m'],
          async check(s, end, now) {
            const merged = join(s.root, 'overlay', containerNamed(now, 'm')!.cacheId, 'merged');
            const mounted = mountsUnder(merged).length > 0;
            if (finished(end) && !mounted) return ['container m was mounted, and is not'];
            if (!mounted) return [];
            const problems = viewDiff(views.get(ids.app)!, viewOf(merged)).map((d) => `container m: ${d}`);
            await s.unmountContainer('m');
            return problems;
          },
        };
      },
    });
  }, TIMEOUT);

  it('container commit', async () => {
    const committed = expectedView([...TREES.app, CHANGES]);
    await crashLoop({
      op: 'commit',
      async setup(s) {
        await ensureImage(s, 'app');
        await s.createContainer('app:1', { name: 'k' });
        const m = await s.mountContainer('k');
        try {
          for (const [rel, content] of Object.entries(CHANGES)) {
            const base = rel.split('/').at(-1)!;
            if (base.startsWith('.wh.')) rmSync(join(m.merged, rel.slice(0, -base.length), base.slice(4)));
            else writeTree(m.merged, { [rel]: content });
          }
        } finally {
          await s.unmountContainer('k');
        }
      },
      async prepare(s) {
        // The commits of earlier kills go, so each commit has its layer to make.
        for (const id of readStoreFiles(s.root).images.keys()) if (id !== ids.app) await s.removeImage(id);
        return {
          args: ['k', 'snap:1'],
          async check(_s, end, now) {
            const done = finished(end);
            if (!done) return [];
            const id = (done.result as { id: string }).id;
            return now.images.has(id) && now.refs['snap:1'] === id ? [] : [`the commit finished (${id}), and snap:1 is not it`];
          },
        };
      },
      expected: (img) => views.get(img.id) ?? (createdBy(img) === 'ovl container commit k' ? committed : undefined),
      async teardown(s) {
        // The container is as it was after all those commits.
        const m = await s.mountContainer('k');
        try {
          expect(viewDiff(committed, viewOf(m.merged))).toEqual([]);
        } finally {
          await s.unmountContainer('k');
        }
      },
    });
  }, TIMEOUT);

  it('image rm (of one sharing the base layer with another, and of one sharing nothing)', async () => {
    await crashLoop({
      op: 'rm-image',
      setup: async (s) => {
        for (const n of ['base', 'app', 'other'] as const) await ensureImage(s, n);
      },
      async prepare(s, i) {
        const t: Name = i % 2 ? 'other' : 'app';
        await ensureImage(s, t);
        return {
          args: [`${t}:1`],
          mayGo: [ids[t]],
          async check(_s, end, now) {
            return finished(end) && now.images.has(ids[t]) ? [`rm of ${t} finished, and the image is there`] : [];
          },
        };
      },
    });
  }, TIMEOUT);

  it('container rm', async () => {
    await crashLoop({
      op: 'rm-container',
      setup: (s) => ensureImage(s, 'base'),
      async prepare(s) {
        await filledContainer(s, 'base:1', 'r');
        return {
          args: ['r'],
          async check(s, end, now) {
            if (finished(end) && containerNamed(now, 'r')) return ['rm of r finished, and it is there'];
            return fillIntact(s, 'r', now);
          },
        };
      },
    });
  }, TIMEOUT);

  it('prune (a dangling image, an unmounted container, with a mounted one beside)', async () => {
    const mountedView = new Map([...views.get(ids.base) ?? [], ['/pm-file', 'file:written while mounted\n']]);
    let merged = '';
    await crashLoop({
      op: 'prune',
      async setup(s) {
        await ensureImage(s, 'base');
        await s.createContainer('base:1', { name: 'pm' });
        merged = (await s.mountContainer('pm')).merged;
        writeFileSync(join(merged, 'pm-file'), 'written while mounted\n');
      },
      async prepare(s) {
        await ensureImage(s, 'other', false);
        await filledContainer(s, 'base:1', 'pu');
        return {
          args: [],
          mayGo: [ids.other],
          async check(s, end, now) {
            const problems: string[] = [];
            if (finished(end) && (now.images.has(ids.other) || containerNamed(now, 'pu'))) problems.push('prune finished, and left the dangling image or the unmounted container');
            if (!containerNamed(now, 'pm') || mountsUnder(merged).length === 0) problems.push('the mounted container pm is gone or unmounted');
            else problems.push(...viewDiff(mountedView, viewOf(merged)).map((d) => `mounted container pm: ${d}`));
            problems.push(...fillIntact(s, 'pu', now));
            return problems;
          },
        };
      },
      async teardown(s) {
        await s.unmountContainer('pm');
      },
    });
  }, TIMEOUT);

  it('the recovery itself (after an import killed mid-way)', async () => {
    // Each time: an import of other killed at a random instant leaves its partial layer (or,
    // past its end, a whole image), then the recovery that cleans it up is killed in turn.
    const garbage = rngFor('recover: the import');
    let importMs = 0;
    await crashLoop({
      op: 'recover',
      kills: Math.ceil(KILLS / 2),
      async setup(s) {
        await ensureImage(s, 'base');
        const end = await runChild(['import', s.root, layout, 'other', 'other:1']);
        expect(finished(end)).toBeDefined();
        importMs = end.ms!;
        await s.removeImage(ids.other);
      },
      async prepare(s) {
        await removeImageIfThere(s, ids.other);
        await runChild(['import', s.root, layout, 'other', 'other:1'], { killAfterMs: importMs * (0.1 + garbage()) });
        return { args: [] };
      },
    });
  }, TIMEOUT);
});

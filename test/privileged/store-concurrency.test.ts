/**
 * Processes sharing a store: imports of images that share a layer, at once, apply it once; a
 * prune in another process leaves mounted containers (and every layer under them) alone; a
 * prune waits for an import in progress. The processes are test/helpers/store-child.mjs on the
 * built library; they share this process's (private) mount namespace, so they see the
 * containers it mounts.
 *
 * "At once" is made certain where it matters, without timing: a child can wait at a gate or
 * before a layer's blob (--gate, --pause-before-layer), and /proc/locks shows when another is
 * blocked on a lock.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MediaType } from '../../src/oci/image/types.js';
import { writeOciLayout } from '../../src/oci/image/write.js';
import type { ImportedImage } from '../../src/store/images.js';
import { StoreLock } from '../../src/store/files.js';
import { StoreContext } from '../../src/store/context.js';
import { openStore, type Store } from '../../src/store/store.js';
import type { PruneResult } from '../../src/store/usage.js';
import { layerTar } from '../helpers/images.js';
import { describePrivileged, skipReason } from '../helpers/privileged.js';
import {
  bulkTree,
  expectedView,
  imageViewProblems,
  okResult,
  readStoreFiles,
  StoreChild,
  storeProblems,
  viewDiff,
  viewOf,
  type Tree,
  type View,
} from '../helpers/store-check.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

const big = (seed: string, mb: number): string => `${seed}\n`.padEnd(64, '-').repeat((mb * 1024 * 1024) / 64);
/** The shared base: big enough that two imports of it overlap. */
const B0: Tree = { ...bulkTree('usr/base', 600, 600), 'usr/lib/big.so': big('base', 3), 'etc/os-release': 'base\n' };
const X1: Tree = { ...bulkTree('one', 100, 300), 'etc/motd': 'one\n' };
const Y1: Tree = { ...bulkTree('two', 100, 300), 'etc/motd': 'two\n', 'usr/base/d1/.wh.f1': '' };
const Z1: Tree = { ...bulkTree('three', 50, 300), 'etc/motd': 'three\n' };
const O0: Tree = { ...bulkTree('opt/other', 100, 300), 'etc/os-release': 'other\n' };
const TREES = { one: [B0, X1], two: [B0, Y1], three: [B0, Z1], other: [O0] } as const;
type Name = keyof typeof TREES;

let work: string;
let layout: string;
const ids = {} as Record<Name, string>;
const views = new Map<string, View>();
const expected = (img: { id: string }) => views.get(img.id);

beforeAll(async () => {
  if (skipReason !== null) return;
  work = mkdtempSync(join(tmpdir(), 'ovl-store-conc-images-'));
  layout = join(work, 'layout');
  const b0 = layerTar(B0);
  const written = {
    one: await writeOciLayout(layout, { layers: [{ data: b0 }, { data: layerTar(X1) }], ref: 'one' }),
    two: await writeOciLayout(layout, { layers: [{ data: b0 }, { data: gzipSync(layerTar(Y1)), mediaType: MediaType.ociLayerGzip }], ref: 'two' }),
    three: await writeOciLayout(layout, { layers: [{ data: b0 }, { data: layerTar(Z1) }], ref: 'three' }),
    other: await writeOciLayout(layout, { layers: [{ data: layerTar(O0) }], ref: 'other' }),
  };
  for (const name of Object.keys(TREES) as Name[]) {
    ids[name] = written[name].configDigest;
    views.set(ids[name], expectedView(TREES[name]));
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * Whether process `pid` is waiting for a flock on `path`: the store polls with LOCK_NB (a
 * blocking flock would hold a thread-pool thread), so that is the lock file open in the process
 * while /proc/locks shows no lock of it on the file (or, for a blocking waiter, a '->' line).
 */
function blockedOn(pid: number, path: string): boolean {
  const ino = statSync(path).ino;
  const locks = readFileSync('/proc/locks', 'utf8').split('\n');
  const mine = (blocked: boolean) =>
    locks.some((line) => {
      const m = /^\d+:\s+(->\s+)?FLOCK\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
      return m !== null && (m[1] !== undefined) === blocked && Number(m[2]) === pid && Number(m[3]) === ino;
    });
  if (mine(true)) return true;
  if (mine(false)) return false;
  const fds = readdirSync(`/proc/${pid}/fd`);
  return fds.some((fd) => {
    try {
      return statSync(`/proc/${pid}/fd/${fd}`).ino === ino;
    } catch {
      return false;
    }
  });
}

/** Waits until `child` is blocked on the lock at `path`; false when it ended first. */
async function untilBlocked(child: StoreChild, path: string): Promise<boolean> {
  let ended = false;
  void child.ended.then(() => (ended = true));
  for (;;) {
    if (ended) return false;
    try {
      if (blockedOn(child.proc.pid!, path)) return true;
    } catch {
      /* the lock file is not made yet */
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A fresh store's root (the store is made by its first open). */
async function freshStore(): Promise<string> {
  const root = join(tempDir('ovl-store-conc-'), 'store');
  await openStore({ root });
  return root;
}

/** After a recovery (no other process is busy now): consistent, and every image shows its layers. */
async function consistent(root: string): Promise<Store> {
  const store = await openStore({ root });
  expect(store.recovery.ran).toBe(true);
  expect(storeProblems(root)).toEqual([]);
  expect(await imageViewProblems(store, expected)).toEqual([]);
  return store;
}

/** Both imports succeeded; the base layer was applied by exactly one of them, each upper layer by its own. */
async function checkSharedImports(root: string, a: ImportedImage, b: ImportedImage): Promise<void> {
  expect(a.id).toBe(ids.one);
  expect(b.id).toBe(ids.two);
  expect(a.layers[0]!.chainId).toBe(b.layers[0]!.chainId);
  expect(Number(a.layers[0]!.applied) + Number(b.layers[0]!.applied)).toBe(1);
  expect([a.layers[1]!.applied, b.layers[1]!.applied]).toEqual([true, true]);

  const store = await consistent(root);
  const files = readStoreFiles(root);
  // One directory per layer: three layers, three directories (the base's once).
  expect(files.layers.size).toBe(3);
  const sizes = [...files.layers.values()].map((l) => l.size);
  const base = files.layers.get(a.layers[0]!.chainId)!.size;
  const df = await store.df();
  expect(df.images.total).toBe(2);
  expect(df.images.size).toBe(sizes.reduce((x, y) => x + y, 0));
  const listed = await store.images();
  for (const img of listed) expect(img.sharedSize).toBe(base);
  expect(df.images.size).toBe(listed.reduce((n, i) => n + i.size, 0) - base);
}

describePrivileged('processes sharing a store', () => {
  it('two imports of images sharing a base layer, started together: both succeed, the base applied once', async () => {
    for (let round = 0; round < 3; round++) {
      const root = await freshStore();
      const a = new StoreChild(['--gate', 'import', root, layout, 'one', 'one:1']);
      const b = new StoreChild(['--gate', 'import', root, layout, 'two', 'two:1']);
      await Promise.all([a.waitFor('ready'), b.waitFor('ready')]);
      a.send();
      b.send();
      const [ea, eb] = await Promise.all([a.ended, b.ended]);
      await checkSharedImports(root, okResult<ImportedImage[]>(ea)[0]!, okResult<ImportedImage[]>(eb)[0]!);
    }
  }, 120_000);

  it('an import that finds the base layer being applied by another process waits for it, then does not apply it again', async () => {
    const root = await freshStore();
    // One stops while it holds the base layer's lock (its directory made, its blob not read yet)...
    const a = new StoreChild(['--pause-before-layer', '0', 'import', root, layout, 'one', 'one:1']);
    await a.waitFor('paused');
    // ...the other comes to that layer and waits on its lock; then the first goes on.
    const b = new StoreChild(['import', root, layout, 'two', 'two:1']);
    const blocked = await untilBlocked(b, join(root, 'locks', `layer-${bottomChain(ids.one).slice(7)}.lock`));
    a.send();
    const [ea, eb] = await Promise.all([a.ended, b.ended]);
    expect(blocked, `the second import did not wait for the base layer's lock: ${JSON.stringify(eb.result)}`).toBe(true);
    const ra = okResult<ImportedImage[]>(ea)[0]!;
    const rb = okResult<ImportedImage[]>(eb)[0]!;
    expect([ra.layers[0]!.applied, rb.layers[0]!.applied]).toEqual([true, false]);
    await checkSharedImports(root, ra, rb);
  }, 60_000);

  it('mounted containers survive a prune in another process: their layers, their merged views, their images', async () => {
    const root = await freshStore();
    const store = await openStore({ root });
    await store.importImage(layout, { ref: 'one', tag: 'one:1' });
    await store.importImage(layout, { ref: 'two' }); // untagged: dangling, but a container uses it
    await store.importImage(layout, { ref: 'three', tag: 'three:1' });
    await store.importImage(layout, { ref: 'other' }); // dangling and unused: prune removes it
    await store.createContainer('one:1', { name: 'c1' });
    await store.createContainer(ids.two, { name: 'c2' });
    await store.createContainer('three:1', { name: 'c3' });
    await store.createContainer('one:1', { name: 'c4' }); // unmounted: prune removes it
    const mounted = ['c1', 'c2', 'c3'];
    const merged: Record<string, string> = {};
    try {
      for (const c of mounted) {
        merged[c] = (await store.mountContainer(c)).merged;
        writeFileSync(join(merged[c]!, `${c}-file`), `${c} was here\n`);
      }
      // c3's image goes (forced); its layers stay while c3 lives.
      await store.removeImage('three:1', { force: true });
      const want: Record<string, View> = {
        c1: new Map([...views.get(ids.one)!, ['/c1-file', 'file:c1 was here\n']]),
        c2: new Map([...views.get(ids.two)!, ['/c2-file', 'file:c2 was here\n']]),
        c3: new Map([...views.get(ids.three)!, ['/c3-file', 'file:c3 was here\n']]),
      };
      const layersBefore = readStoreFiles(root).layers;

      const p = new StoreChild(['prune', root]);
      const pruned = okResult<PruneResult>(await p.ended);
      expect(pruned.containers).toEqual(['c4']);
      expect(pruned.images).toEqual([ids.other]);
      expect(pruned.layers).toEqual([bottomChain(ids.other)]);

      const files = readStoreFiles(root);
      expect([...files.images.keys()].sort()).toEqual([ids.one, ids.two].sort());
      expect(Object.keys(files.refs)).toEqual(['one:1']);
      expect([...files.containers.values()].map((c) => c.name).sort()).toEqual(mounted);
      for (const c of mounted) {
        expect(mountsUnder(merged[c]!), c).toEqual([merged[c]]);
        expect(viewDiff(want[c]!, viewOf(merged[c]!)), c).toEqual([]);
      }
      // Every layer under a mounted container is kept, its directory whole.
      for (const [id, l] of layersBefore) {
        if (pruned.layers.includes(id as never)) continue;
        expect(files.layers.get(id)?.cacheId, id).toBe(l.cacheId);
      }
      const again = await openStore({ root });
      expect(storeProblems(root)).toEqual([]);
      expect(await imageViewProblems(again, expected)).toEqual([]);
    } finally {
      for (const c of mounted) await store.unmountContainer(c).catch(() => {});
    }
    for (const c of mounted) await store.removeContainer(c);
    expect(mountsUnder(root)).toEqual([]);
    await consistent(root);
  }, 120_000);

  it('a prune started while another process imports waits for the import, which succeeds whole', async () => {
    const root = await freshStore();
    const store = await openStore({ root });
    await store.importImage(layout, { ref: 'other' }); // dangling: the prune has this to remove
    // The import stops after its base layer is in the store, before its image record is.
    const a = new StoreChild(['--pause-before-layer', '1', 'import', root, layout, 'one', 'one:1']);
    await a.waitFor('paused');
    const p = new StoreChild(['prune', root]);
    const blocked = await untilBlocked(p, join(root, 'locks', 'gc.lock'));
    a.send();
    const [ea, ep] = await Promise.all([a.ended, p.ended]);
    expect(blocked, `the prune did not wait for the import: ${JSON.stringify(ep.result)}`).toBe(true);
    const imported = okResult<ImportedImage[]>(ea)[0]!;
    const pruned = okResult<PruneResult>(ep);
    expect(imported.layers.map((l) => l.applied)).toEqual([true, true]);
    expect(pruned.images).toEqual([ids.other]);
    for (const l of imported.layers) expect(pruned.layers).not.toContain(l.chainId);
    const files = readStoreFiles(root);
    expect([...files.images.keys()]).toEqual([ids.one]);
    expect(files.refs).toEqual({ 'one:1': ids.one });
    await consistent(root);
  }, 60_000);

  it('a prune while this process removes containers: both succeed, every container goes once', async () => {
    const root = await freshStore();
    const store = await openStore({ root });
    await store.importImage(layout, { ref: 'one', tag: 'one:1' });
    const names = Array.from({ length: 30 }, (_, i) => `r${i}`);
    for (const name of names) await store.createContainer('one:1', { name });
    const p = new StoreChild(['prune', root]);
    await p.waitFor('start');
    // Removed from the other end of the list meanwhile: a container prune removed first is gone
    // for this rm (ERR_NOT_FOUND, as docker rm says), and one this rm removed first is for prune.
    const removedHere: string[] = [];
    for (const name of [...names].reverse()) {
      try {
        await store.removeContainer(name);
        removedHere.push(name);
      } catch (e) {
        expect((e as { code?: string }).code, `rm ${name}: ${(e as Error).message}`).toBe('ERR_NOT_FOUND');
      }
    }
    const pruned = okResult<PruneResult>(await p.ended);
    expect(new Set([...pruned.containers, ...removedHere])).toEqual(new Set(names));
    expect(readStoreFiles(root).containers.size).toBe(0);
    await consistent(root);
  }, 60_000);

  it('a tag and a prune of the image it names, both waiting for meta.lock: the tag succeeds only if its image stays', async () => {
    // Whichever the kernel wakes first: the prune removes the dangling image and the tag then
    // fails ERR_NOT_FOUND, or the tag lands first and the prune keeps the image. Never a tag
    // that reports success and names an image that is gone. (Here the prune, blocked first, has
    // been woken first each time: the order the bug needed.) A few rounds.
    for (let round = 0; round < 4; round++) {
      const root = await freshStore();
      const store = await openStore({ root });
      await store.importImage(layout, { ref: 'other' }); // dangling
      // The prune's own open (its recovery) first, then meta.lock held here, then the prune.
      const p = new StoreChild(['--gate', 'prune', root]);
      await p.waitFor('ready');
      const meta = (await StoreLock.take(join(root, 'locks', 'meta.lock'), 'exclusive'))!;
      let t: StoreChild;
      try {
        p.send();
        expect(await untilBlocked(p, join(root, 'locks', 'meta.lock'))).toBe(true);
        t = new StoreChild(['tag', root, ids.other, 'keep:1']);
        expect(await untilBlocked(t, join(root, 'locks', 'meta.lock'))).toBe(true);
      } finally {
        meta.release();
      }
      const [ep, et] = await Promise.all([p.ended, t.ended]);
      const pruned = okResult<PruneResult>(ep);
      const files = readStoreFiles(root);
      if (et.result?.ok) {
        expect(pruned.images, `round ${round}: tagged, and pruned`).toEqual([]);
        expect(files.refs).toEqual({ 'keep:1': ids.other });
        expect(files.images.has(ids.other)).toBe(true);
      } else {
        expect(et.result?.error?.code, `round ${round}: ${JSON.stringify(et.result)}`).toBe('ERR_NOT_FOUND');
        expect(pruned.images).toEqual([ids.other]);
        expect(files.refs, `round ${round}: a tag names an image that is gone`).toEqual({});
      }
      await consistent(root);
    }
  }, 60_000);

  it("another process's opens (each runs the recovery when it can) leave alone what this one is doing", async () => {
    const root = await freshStore();
    const store = await openStore({ root });
    await store.importImage(layout, { ref: 'one', tag: 'one:1' });
    await store.createContainer('one:1', { name: 'c' });
    // It opens the store again and again meanwhile: whenever nothing holds gc.lock its recovery
    // runs, and must take nothing for a dead process's leftovers that this live one is making.
    const r = new StoreChild(['reopen', root]);
    await r.waitFor('start');
    const failures: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        failures.push(`${what}: ${(e as Error).message}`);
      }
    };
    try {
      for (let i = 0; i < 30; i++) {
        await attempt(`tag #${i}`, () => store.tag('one:1', `t${i % 3}:x`));
        await attempt(`mount #${i}`, () => store.mountContainer('c'));
        await attempt(`unmount #${i}`, () => store.unmountContainer('c'));
        await attempt(`volume create #${i}`, () => store.createVolume(`v${i % 3}`));
        await attempt(`volume rm #${i}`, () => store.removeVolume(`v${i % 3}`));
        await attempt(`container create and rm #${i}`, async () => {
          await store.createContainer('one:1', { name: 'x' });
          await store.removeContainer('x');
        });
      }
    } finally {
      r.send();
      await store.unmountContainer('c').catch(() => {});
    }
    const reopened = okResult<{ opens: number; recoveries: number; removed: string[] }>(await r.ended);
    const removed = reopened.removed.filter((p) => !p.includes('/overlay/')); // (a container's directory after its record: its rm in progress)
    expect(failures, `${reopened.opens} opens, ${reopened.recoveries} recoveries; they removed ${removed.slice(0, 4).join(', ') || 'no file'}`).toEqual([]);
    const files = readStoreFiles(root);
    expect(Object.keys(files.refs).sort()).toEqual(['one:1', 't0:x', 't1:x', 't2:x']);
    expect([...files.containers.values()].map((c) => c.name)).toEqual(['c']);
    await store.removeContainer('c');
    await consistent(root);
  }, 60_000);
});

/** The chainID of image `id`'s bottom layer (a bottom layer's chainID is its diffID), from the layout. */
function bottomChain(id: string): string {
  const config = JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', id.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
  return config.rootfs.diff_ids[0]!;
}

describePrivileged('gc.lock fairness', () => {
  it('a deletion waiting for gc.lock goes before operations that start after it (the turnstile): it is not starved', async () => {
    const root = await freshStore();
    const ctx = new StoreContext(root);
    const order: string[] = [];
    const a = await ctx.useLayers();
    const del = ctx.deleteLayers().then((l) => {
      order.push('delete');
      return l;
    });
    // Until the deletion holds the turnstile (it then waits for gc.lock behind `a`).
    for (;;) {
      const probe = await StoreLock.take(join(root, 'locks', 'gc-turnstile.lock'), 'shared', false);
      if (!probe) break;
      probe.release();
      await new Promise((r) => setTimeout(r, 5));
    }
    const b = ctx.useLayers().then((l) => {
      order.push('use');
      return l;
    });
    // Let `b` poll a while: with `a` shared it would get gc.lock at once, were it not for the turnstile.
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual([]);
    a.release();
    (await del).release();
    (await b).release();
    expect(order).toEqual(['delete', 'use']);
  });
});

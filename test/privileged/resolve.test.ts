/**
 * resolvePathSync() on layer directories on disk, checked against the kernel: each scenario names
 * the layer and real path the lookup rules give, and a real mount of the same layers must show
 * the same content (or nothing) at that path of the merged view.
 */
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createWhiteoutSync, createXattrWhiteoutSync, findOverlaySync, mountOverlay, getRedirectSync, resolvePathSync, setOpaqueSync, setRedirectSync, type OverlaySpec, type Resolution } from '../../src/index.js';
import { LayerStack } from '../../src/layers/lookup.js';
import { runSync } from '../../src/sys/io.js';
import { caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { walkView, withMount } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

interface Stack {
  upper: string;
  l1: string;
  l2: string;
  l3: string;
  work: string;
  target: string;
  /** Top first: upper, l1, l2, l3 (layer 0..3). */
  layers: string[];
}

/**
 * Four layers: markers written by us (whiteouts, an xattr whiteout, opaque dirs, redirects in
 * the upper and in a lower layer) and by the kernel (an absolute redirect from a dir moved to
 * another parent, metacopy files from chmod and ln with metacopy=on).
 */
function makeStack(): Stack {
  const root = tempDir();
  writeTree(root, {
    'l3/top.txt': 'l3 top',
    'l3/mid.txt': 'l3 mid',
    'l3/low.txt': 'l3 low',
    'l3/gone.txt': 'l3 gone',
    'l3/xgone.txt': 'l3 xgone',
    'l3/opq/hidden.txt': 'l3 opq hidden',
    'l3/midop/hidden.txt': 'l3 midop hidden',
    'l3/merge/l3.txt': 'l3 merge',
    'l3/merge/shared.txt': 'l3 shared',
    'l3/orig/f.txt': 'l3 orig f',
    'l3/orig2/f.txt': 'l3 orig2 f',
    'l3/far/src/g.txt': 'l3 far g',
    'l3/far/src2/h.txt': 'l3 far h',
    'l2/far/src2/i.txt': 'l2 far i',
    'l3/meta.txt': 'l3 meta data',
    'l3/data.txt': 'l3 linked data',
    'l3/dirfile': 'l3 file under a dir',
    'l3/filedir/inner.txt': 'l3 dir under a file',
    'l2/top.txt': 'l2 top',
    'l2/midop/own.txt': 'l2 midop own',
    'l2/merge/l2.txt': 'l2 merge',
    'l2/merge/shared.txt': 'l2 shared',
    'l1/mid.txt': 'l1 mid',
    'l1/merge/l1.txt': 'l1 merge',
    'l1/dirfile/x.txt': 'l1 dir above a file',
    'l1/filedir': 'l1 file above a dir',
    'l1/lred/': null,
    'upper/top.txt': 'upper top',
    'upper/opq/own.txt': 'upper opq own',
    'upper/merge/up.txt': 'upper merge',
    'upper/ren/': null,
    'm/': null,
  });
  const at = (p: string) => join(root, p);
  createWhiteoutSync(at('l1/gone.txt'));
  createXattrWhiteoutSync(at('l2/xgone.txt'), { layer: 'lower' });
  setOpaqueSync(at('l2/midop'));
  setOpaqueSync(at('upper/opq'));
  // A redirect's source must be hidden, as the kernel's rename does: two merged dirs over one
  // lower dir make the second lookup fail with ESTALE (the overlay inode is keyed by the lower).
  setRedirectSync(at('upper/ren'), 'orig');
  createWhiteoutSync(at('upper/orig'));
  setRedirectSync(at('l1/lred'), 'orig2');
  createWhiteoutSync(at('l1/orig2'));
  const x: Stack = { upper: at('upper'), l1: at('l1'), l2: at('l2'), l3: at('l3'), work: at('work'), target: at('m'), layers: [] };
  x.layers = [x.upper, x.l1, x.l2, x.l3];
  // The kernel's own markers: an absolute redirect, a whiteout left by rename, metacopy files.
  withMount(spec(x), () => {
    renameSync(join(x.target, 'far/src'), join(x.target, 'moved'));
    // Into a dir that exists only in the upper: the lookup below must start again from the root.
    mkdirSync(join(x.target, 'fresh'));
    renameSync(join(x.target, 'far/src2'), join(x.target, 'fresh/moved2'));
    chmodSync(join(x.target, 'meta.txt'), 0o640);
    // Metadata-only, inside a redirected dir: its data is found through the parent's redirect.
    chmodSync(join(x.target, 'moved/g.txt'), 0o640);
    linkSync(join(x.target, 'data.txt'), join(x.target, 'hl.txt'));
  });
  expect(getRedirectSync(join(x.upper, 'moved'))).toBe('/far/src');
  expect(getRedirectSync(join(x.upper, 'fresh/moved2'))).toBe('/far/src2');
  expect(getRedirectSync(join(x.upper, 'moved/g.txt'))).toBeUndefined(); // found through its parent's redirect
  expect(getRedirectSync(join(x.upper, 'hl.txt'))).toBe('/data.txt');
  return x;
}

function spec(x: Stack, options: OverlaySpec['options'] = { metacopy: 'on', redirectDir: 'on' }): OverlaySpec {
  return { lower: [x.l1, x.l2, x.l3], upper: x.upper, work: x.work, target: x.target, options };
}

type Expected =
  | { layer: number; at: string; kind: 'file' | 'dir'; content?: string; mergedFrom?: number[]; dataFrom?: { layer: number; path: string } }
  | { whiteout: number; at?: string }
  | 'not found';

const SCENARIOS: Array<[string, string, Expected]> = [
  ['the root', '/', { layer: 0, at: '/', kind: 'dir', mergedFrom: [0, 1, 2, 3] }],
  ['top-down: the upper wins over l2 and l3', '/top.txt', { layer: 0, at: '/top.txt', kind: 'file', content: 'upper top' }],
  ['top-down: l1 wins over l3', '/mid.txt', { layer: 1, at: '/mid.txt', kind: 'file', content: 'l1 mid' }],
  ['only in the bottom layer', '/low.txt', { layer: 3, at: '/low.txt', kind: 'file', content: 'l3 low' }],
  ['a device whiteout in l1', '/gone.txt', { whiteout: 1 }],
  ['below a whited-out name: the whiteout that hides it', '/gone.txt/x', { whiteout: 1, at: '/gone.txt' }],
  ['an xattr whiteout in l2', '/xgone.txt', { whiteout: 2 }],
  ['not in any layer', '/nope', 'not found'],
  ['below a missing dir', '/nope/deeper', 'not found'],
  ['below a file', '/top.txt/under', 'not found'],
  ['an opaque upper dir: only its own entries', '/opq', { layer: 0, at: '/opq', kind: 'dir', mergedFrom: [0] }],
  ['an opaque upper dir: its own file', '/opq/own.txt', { layer: 0, at: '/opq/own.txt', kind: 'file', content: 'upper opq own' }],
  ['an opaque upper dir: the lower file is hidden', '/opq/hidden.txt', 'not found'],
  ['an opaque middle dir stops the merge there', '/midop', { layer: 2, at: '/midop', kind: 'dir', mergedFrom: [2] }],
  ['an opaque middle dir hides the layer below', '/midop/hidden.txt', 'not found'],
  ['a dir merged from every layer', '/merge', { layer: 0, at: '/merge', kind: 'dir', mergedFrom: [0, 1, 2, 3] }],
  ['a merged dir: the topmost of two', '/merge/shared.txt', { layer: 2, at: '/merge/shared.txt', kind: 'file', content: 'l2 shared' }],
  ['a merged dir: only in l3', '/merge/l3.txt', { layer: 3, at: '/merge/l3.txt', kind: 'file', content: 'l3 merge' }],
  ['a dir above a file: the file is not merged', '/dirfile', { layer: 1, at: '/dirfile', kind: 'dir', mergedFrom: [1] }],
  ['a file above a dir', '/filedir', { layer: 1, at: '/filedir', kind: 'file', content: 'l1 file above a dir' }],
  ['a file above a dir hides its content', '/filedir/inner.txt', 'not found'],
  ['a relative redirect in the upper (ours)', '/ren', { layer: 0, at: '/ren', kind: 'dir', mergedFrom: [0, 3] }],
  ['through a relative redirect in the upper', '/ren/f.txt', { layer: 3, at: '/orig/f.txt', kind: 'file', content: 'l3 orig f' }],
  ['through a relative redirect in a lower layer', '/lred/f.txt', { layer: 3, at: '/orig2/f.txt', kind: 'file', content: 'l3 orig2 f' }],
  ['a redirect source whited out in the upper', '/orig', { whiteout: 0 }],
  ['a redirect source whited out in l1', '/orig2/f.txt', { whiteout: 1, at: '/orig2' }],
  ['metacopy in a dir with an absolute redirect (the kernel’s)', '/moved/g.txt', { layer: 0, at: '/moved/g.txt', kind: 'file', content: 'l3 far g', dataFrom: { layer: 3, path: '/far/src/g.txt' } }],
  ['a moved dir leaves a whiteout', '/far/src', { whiteout: 0 }],
  ['moved into an upper-only dir: merged from the layers below by an absolute redirect', '/fresh/moved2', { layer: 0, at: '/fresh/moved2', kind: 'dir', mergedFrom: [0, 2, 3] }],
  ['moved into an upper-only dir: from l3', '/fresh/moved2/h.txt', { layer: 3, at: '/far/src2/h.txt', kind: 'file', content: 'l3 far h' }],
  ['moved into an upper-only dir: from l2', '/fresh/moved2/i.txt', { layer: 2, at: '/far/src2/i.txt', kind: 'file', content: 'l2 far i' }],
  ['metacopy: metadata above, data below', '/meta.txt', { layer: 0, at: '/meta.txt', kind: 'file', content: 'l3 meta data', dataFrom: { layer: 3, path: '/meta.txt' } }],
  ['metacopy with an absolute redirect (a hard link)', '/hl.txt', { layer: 0, at: '/hl.txt', kind: 'file', content: 'l3 linked data', dataFrom: { layer: 3, path: '/data.txt' } }],
];

/** The data a found file serves: its data layer's file for a metacopy, else its real path. */
function servedContent(x: Stack, r: Extract<Resolution, { found: true }>): string {
  return readFileSync(r.dataFrom ? join(x.layers[r.dataFrom.layer]!, r.dataFrom.path) : r.realPath, 'utf8');
}

/** The merged view at `path` agrees with a resolution: same kind and content, or nothing there. */
function expectMountAgrees(x: Stack, path: string, r: Resolution, stack: LayerStack): void {
  const merged = join(x.target, path);
  if (!r.found) {
    expect(['ENOENT', 'ENOTDIR'], path).toContain(caughtSync(() => lstatSync(merged)).code);
    return;
  }
  const st = lstatSync(merged);
  expect(st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other', path).toBe(r.kind);
  if (r.kind === 'file') expect(servedContent(x, r), path).toBe(readFileSync(merged, 'utf8'));
  if (r.kind === 'dir') expect([...runSync(stack.list(path)).keys()].sort(), path).toEqual(readdirSync(merged).sort());
}

describePrivileged('resolvePathSync(): the kernel’s lookup rules on layer dirs, checked against a mount', () => {
  it('every scenario: layer, real path, whiteout layer or not found; the mount agrees', () => {
    const x = makeStack();
    const stack = new LayerStack(x.layers);
    const got = SCENARIOS.map(([, path]) => resolvePathSync(x.layers, path));
    SCENARIOS.forEach(([name, path, want], i) => {
      const r = got[i]!;
      const why = `${name} (${path})`;
      if (want === 'not found') expect(r, why).toEqual({ found: false, whiteout: false });
      else if ('whiteout' in want) expect(r, why).toEqual({ found: false, whiteout: true, layer: want.whiteout, realPath: join(x.layers[want.whiteout]!, want.at ?? path) });
      else {
        expect(r.found, why).toBe(true);
        if (!r.found) return;
        expect({ layer: r.layer, realPath: r.realPath, kind: r.kind }, why).toEqual({ layer: want.layer, realPath: want.at === '/' ? x.layers[want.layer] : join(x.layers[want.layer]!, want.at), kind: want.kind });
        if (want.content !== undefined) expect(servedContent(x, r), why).toBe(want.content);
        if (want.mergedFrom) expect(r.mergedFrom?.map((d) => d.layer), why).toEqual(want.mergedFrom);
        expect(r.dataFrom, why).toEqual(want.dataFrom);
      }
      // The same answer from a shared (caching) stack.
      expect(runSync(stack.resolve(path)), why).toEqual(r);
    });
    withMount(spec(x), () => {
      SCENARIOS.forEach(([, path], i) => expectMountAgrees(x, path, got[i]!, stack));
    });
    expectUnmounted(x.target);
  });

  it('every path of the merged view resolves to what the mount shows, and every dir lists the same', () => {
    const x = makeStack();
    const stack = new LayerStack(x.layers);
    withMount(spec(x), () => {
      const view = walkView(x.target);
      expect(view.size).toBeGreaterThan(20);
      for (const path of ['/', ...view.keys()]) {
        const r = runSync(stack.resolve(path));
        expect(r.found, path).toBe(true);
        expectMountAgrees(x, path, r, stack);
      }
    });
  });

  it('followRedirects false ignores redirects; a redirect_dir=nofollow kernel refuses them (EPERM)', () => {
    const x = makeStack();
    const opts = { followRedirects: false };
    expect(resolvePathSync(x.layers, '/ren/f.txt', opts)).toEqual({ found: false, whiteout: false });
    expect(resolvePathSync(x.layers, '/lred/f.txt', opts)).toEqual({ found: false, whiteout: false });
    const ren = resolvePathSync(x.layers, '/ren', opts);
    expect(ren.found && ren.mergedFrom?.map((d) => d.layer)).toEqual([0]);
    const stack = new LayerStack(x.layers, opts);
    // metacopy=on needs redirects, so this mount must not touch the metacopy files.
    withMount(spec(x, { redirectDir: 'nofollow' }), () => {
      // The kernel does not ignore a redirect it may not follow: the lookup fails.
      for (const path of ['/ren', '/lred', '/moved']) expect(caughtSync(() => lstatSync(join(x.target, path))).code, path).toBe('EPERM');
      for (const path of ['/orig', '/top.txt', '/opq', '/opq/own.txt', '/midop', '/merge/l3.txt']) {
        expectMountAgrees(x, path, runSync(stack.resolve(path)), stack);
      }
    });
  });

  it("namespace 'user' reads user.overlay.* marks only; device whiteouts count in any namespace", () => {
    const root = tempDir();
    writeTree(root, { 'top/d/own.txt': 'own', 'top/t/own.txt': 'own', 'bottom/d/hidden.txt': 'h', 'bottom/t/hidden.txt': 'h', 'bottom/w.txt': 'w' });
    setOpaqueSync(join(root, 'top/d'), 'y', { namespace: 'user' });
    setOpaqueSync(join(root, 'top/t'));
    createWhiteoutSync(join(root, 'top/w.txt'));
    const layers = [join(root, 'top'), join(root, 'bottom')];
    const ls = (ns: 'user' | 'trusted' | 'auto', p: string) => [...runSync(new LayerStack(layers, { namespace: ns }).list(p)).keys()].sort();
    expect(ls('user', '/d')).toEqual(['own.txt']);
    expect(ls('user', '/t')).toEqual(['hidden.txt', 'own.txt']);
    expect(ls('trusted', '/d')).toEqual(['hidden.txt', 'own.txt']);
    expect(ls('trusted', '/t')).toEqual(['own.txt']);
    expect(ls('auto', '/d')).toEqual(['own.txt']);
    expect(ls('auto', '/t')).toEqual(['own.txt']);
    for (const ns of ['user', 'trusted', 'auto'] as const) {
      expect(resolvePathSync(layers, '/w.txt', { namespace: ns })).toMatchObject({ found: false, whiteout: true, layer: 0 });
    }
    const target = join(root, 'm');
    writeTree(target, {});
    withMount({ lower: layers, target, options: { userxattr: true } }, () => {
      expect(readdirSync(join(target, 'd'))).toEqual(ls('user', '/d'));
      expect(readdirSync(join(target, 't')).sort()).toEqual(ls('user', '/t'));
      expect(readdirSync(target).sort()).toEqual(['d', 't']);
    });
  });
});

describePrivileged('resolvePath on a mount', () => {
  it('takes a mount point, an OverlayMount or its info, with the upper as layer 0', async () => {
    const root = tempDir();
    writeTree(root, { 'l1/a': 'l1', 'l2/a': 'l2', 'l2/b': 'b', 'u/': null, 'm/': null });
    const m = await mountOverlay({ lower: [join(root, 'l1'), join(root, 'l2')], upper: join(root, 'u'), work: join(root, 'w'), target: join(root, 'm') });
    try {
      writeFileSync(join(root, 'm/b'), 'changed');
      for (const source of [join(root, 'm'), m, findOverlaySync(join(root, 'm'))!]) {
        expect(resolvePathSync(source, '/a')).toMatchObject({ found: true, layer: 1, realPath: join(root, 'l1/a') });
        expect(resolvePathSync(source, '/b')).toMatchObject({ found: true, layer: 0, realPath: join(root, 'u/b') });
        expect(resolvePathSync(source, '/nope')).toEqual({ found: false, whiteout: false });
      }
    } finally {
      await m.unmount();
    }
    expect(() => resolvePathSync(join(root, 'm'), '/a')).toThrow(expect.objectContaining({ code: 'ERR_NOT_OVERLAY' }));
  });
});

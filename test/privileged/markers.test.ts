/**
 * Markers against the real kernel: what overlayfs writes into an upper layer is classified
 * exactly by our readers, and what we write is honoured by a fresh mount, in both namespaces.
 */
import { appendFileSync, chmodSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  applyMarkers,
  applyMarkersSync,
  clearOpaqueSync,
  createWhiteoutSync,
  createXattrWhiteoutSync,
  getMetacopySync,
  getOpaqueSync,
  getOriginSync,
  getRedirectSync,
  isWhiteoutSync,
  OverlayError,
  setOpaqueSync,
  setRedirectSync,
  sys,
  tmpfsMountSync,
  whiteoutKindSync,
  type MarkerOp,
  type OverlayOptions,
} from '../../src/index.js';
import { caught, caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { withMount } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

interface Stack {
  root: string;
  lower: string;
  upper: string;
  work: string;
  target: string;
}

/** One lower layer with what the round trips change, an empty upper and a mount point. */
function roundTripStack(): Stack {
  const root = tempDir();
  writeTree(root, {
    'lower/gone.txt': 'gone',
    'lower/gone2.txt': 'gone too',
    'lower/redo/old.txt': 'old',
    'lower/mv/inside.txt': 'moved with its dir',
    'lower/mode.txt': 'mode',
    'lower/app.txt': 'app',
    'lower/link.txt': 'linked',
    'lower/plain.txt': 'untouched',
    'upper/': null,
    'm/': null,
  });
  return { root, lower: join(root, 'lower'), upper: join(root, 'upper'), work: join(root, 'work'), target: join(root, 'm') };
}

/** rm (twice), rmdir+mkdir, mv of a lower dir, chmod, append and ln, through the mount. */
function changeThroughMount(x: Stack, options: OverlayOptions): void {
  withMount({ lower: [x.lower], upper: x.upper, work: x.work, target: x.target, options }, () => {
    const m = x.target;
    rmSync(join(m, 'gone.txt'));
    rmSync(join(m, 'gone2.txt'));
    rmSync(join(m, 'redo'), { recursive: true });
    mkdirSync(join(m, 'redo'));
    renameSync(join(m, 'mv'), join(m, 'moved'));
    chmodSync(join(m, 'mode.txt'), 0o600);
    appendFileSync(join(m, 'app.txt'), ' appended');
    linkSync(join(m, 'link.txt'), join(m, 'link2.txt'));
    expect(readFileSync(join(m, 'moved/inside.txt'), 'utf8')).toBe('moved with its dir');
  });
  expectUnmounted(x.target);
}

/** The markers every option set leaves: device whiteouts (one shared inode), opaque, redirect. */
function expectCommonMarkers(x: Stack): void {
  const u = (p: string) => join(x.upper, p);
  // rm: the kernel's whiteouts are hard links to one shared 0/0 inode (made in work/, linked in).
  expect(whiteoutKindSync(u('gone.txt'))).toBe('device');
  expect(whiteoutKindSync(u('gone2.txt'))).toBe('device');
  const g1 = lstatSync(u('gone.txt'));
  const g2 = lstatSync(u('gone2.txt'));
  expect(g1.ino).toBe(g2.ino);
  expect(g1.nlink).toBeGreaterThanOrEqual(2);
  expect(g1.mode & 0o7777).toBe(0);
  // mv of a lower dir: RENAME_WHITEOUT leaves a fresh whiteout of its own, and a relative redirect.
  expect(whiteoutKindSync(u('mv'))).toBe('device');
  expect(lstatSync(u('mv')).nlink).toBe(1);
  expect(getRedirectSync(u('moved'))).toBe('mv');
  expect(getOpaqueSync(u('moved'))).toBeUndefined();
  expect(whiteoutKindSync(u('moved'))).toBeUndefined();
  // rmdir + mkdir: an opaque dir.
  expect(getOpaqueSync(u('redo'))).toBe('y');
  expect(getRedirectSync(u('redo'))).toBeUndefined();
  expect(readdirSync(u('redo'))).toEqual([]);
  // append: a full copy-up, never metacopy; its origin is the lower file's handle.
  expect(readFileSync(u('app.txt'), 'utf8')).toBe('app appended');
  expect(getMetacopySync(u('app.txt'))).toBeUndefined();
  expect(whiteoutKindSync(u('app.txt'))).toBeUndefined();
  // Not touched: not in the upper; and nothing the kernel wrote is in the user namespace.
  expect(existsSync(u('plain.txt'))).toBe(false);
  expect(whiteoutKindSync(u('plain.txt'))).toBeUndefined();
  expect(isWhiteoutSync(u('gone.txt'), { namespace: 'user' })).toBe(true); // a device whiteout has no namespace
  expect(getOpaqueSync(u('redo'), { namespace: 'user' })).toBeUndefined();
  expect(getRedirectSync(u('moved'), { namespace: 'user' })).toBeUndefined();
  // Directories and the root are not whiteouts; the root is neither opaque nor redirected.
  expect(whiteoutKindSync(x.upper)).toBeUndefined();
  expect(getOpaqueSync(x.upper)).toBeUndefined();
  expect(getRedirectSync(x.upper)).toBeUndefined();
}

/**
 * Every entry of an upper layer (root '/') as our readers classify it, plus the names of any
 * other overlay xattrs the kernel left there: one line per entry.
 */
function classify(upper: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string) => {
    const path = join(upper, rel);
    const st = lstatSync(path);
    const words: string[] = [];
    const wh = whiteoutKindSync(path);
    if (wh) words.push(`whiteout(${wh})${st.nlink > 1 ? ' shared' : ''}`);
    else words.push(st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other');
    const opaque = getOpaqueSync(path);
    if (opaque) words.push(`opaque=${opaque}`);
    const redirect = getRedirectSync(path);
    if (redirect !== undefined) words.push(`redirect=${redirect}`);
    if (getMetacopySync(path)) words.push('metacopy');
    if (getOriginSync(path)) words.push('origin');
    const known = ['opaque', 'redirect', 'metacopy', 'origin'].map((n) => `trusted.overlay.${n}`);
    for (const name of sys.listxattrSync(path).sort()) if (name.includes('overlay.') && !known.includes(name)) words.push(`+${name.replace(/^trusted\.overlay\./, '')}`);
    out[rel === '' ? '/' : `/${rel}`] = words.join(' ');
    if (st.isDirectory()) for (const name of readdirSync(path).sort()) visit(rel === '' ? name : `${rel}/${name}`);
  };
  visit('');
  return out;
}

function expectOrigin(path: string): Buffer {
  const o = getOriginSync(path);
  expect(o).not.toBeNull();
  expect(o!.unknown).toBe(false);
  // struct ovl_fb: version 0, magic 0xfb, len = the whole xattr, then uuid and the file handle.
  expect(o!.version).toBe(0);
  expect(o!.raw[1]).toBe(0xfb);
  expect(o!.raw[2]).toBe(o!.raw.length);
  expect(o!.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  expect(o!.fid!.length).toBe(o!.raw.length - 21);
  expect(o!.fid!.length).toBeGreaterThan(0);
  return o!.raw;
}

describePrivileged('markers: what the kernel writes, read back', () => {
  it("redirect_dir=on: whiteouts (shared inode), opaque, relative redirect, full copy-ups", () => {
    const x = roundTripStack();
    changeThroughMount(x, { redirectDir: 'on' });
    // Exactly what the kernel left, entry by entry.
    expect(classify(x.upper)).toEqual({
      '/': 'dir +impure +uuid',
      '/app.txt': 'file origin',
      '/gone.txt': 'whiteout(device) shared',
      '/gone2.txt': 'whiteout(device) shared',
      '/link.txt': 'file origin',
      '/link2.txt': 'file origin',
      '/mode.txt': 'file origin',
      '/moved': 'dir redirect=mv origin',
      '/mv': 'whiteout(device)',
      '/redo': 'dir opaque=y',
    });
    expectCommonMarkers(x);
    const u = (p: string) => join(x.upper, p);
    // No metacopy: chmod and ln copy the data up.
    expect(getMetacopySync(u('mode.txt'))).toBeUndefined();
    expect(readFileSync(u('mode.txt'), 'utf8')).toBe('mode');
    expect(statSync(u('mode.txt')).mode & 0o777).toBe(0o600);
    expect(getMetacopySync(u('link.txt'))).toBeUndefined();
    expect(lstatSync(u('link.txt')).ino).toBe(lstatSync(u('link2.txt')).ino);
    expect(getRedirectSync(u('link2.txt'))).toBeUndefined();
    // Copy-ups record where they came from.
    expectOrigin(u('app.txt'));
    expectOrigin(u('moved'));
  });

  it('metacopy=on, index=on: metadata-only copy-ups, absolute redirects of hard links, origins', () => {
    const x = roundTripStack();
    changeThroughMount(x, { metacopy: 'on', index: 'on' });
    expect(classify(x.upper)).toEqual({
      '/': 'dir origin +impure +uuid',
      '/app.txt': 'file origin',
      '/gone.txt': 'whiteout(device) shared',
      '/gone2.txt': 'whiteout(device) shared',
      '/link.txt': 'file redirect=/link.txt metacopy origin',
      '/link2.txt': 'file redirect=/link.txt metacopy origin',
      '/mode.txt': 'file metacopy origin',
      '/moved': 'dir redirect=mv origin',
      '/mv': 'whiteout(device)',
      '/redo': 'dir opaque=y',
    });
    expectCommonMarkers(x);
    const u = (p: string) => join(x.upper, p);
    // chmod: metadata only. The metacopy xattr is empty (legacy form, no fs-verity digest).
    expect(getMetacopySync(u('mode.txt'))).toEqual({ legacy: true });
    expect(statSync(u('mode.txt')).mode & 0o777).toBe(0o600);
    expect(statSync(u('mode.txt')).size).toBe(4);
    expect(getRedirectSync(u('mode.txt'))).toBeUndefined();
    // ln: both names are one metacopy inode (index=on keeps hard links together) with an
    // absolute redirect to the lower file.
    for (const name of ['link.txt', 'link2.txt']) {
      expect(getMetacopySync(u(name))).toEqual({ legacy: true });
      expect(getRedirectSync(u(name))).toBe('/link.txt');
      expect(whiteoutKindSync(u(name))).toBeUndefined();
    }
    expect(lstatSync(u('link.txt')).ino).toBe(lstatSync(u('link2.txt')).ino);
    // Origins: one per copied-up lower inode, the same for both names of the hard link.
    const mode = expectOrigin(u('mode.txt'));
    const app = expectOrigin(u('app.txt'));
    expect(expectOrigin(u('link.txt')).equals(expectOrigin(u('link2.txt')))).toBe(true);
    expect(mode.equals(app)).toBe(false);
    // index=on: the upper root records the lower root it was made over.
    expectOrigin(x.upper);
    expect(existsSync(join(x.work, 'index'))).toBe(true);
  });

  it('userxattr: the kernel writes user.overlay.*, read with namespace "user"', () => {
    const x = roundTripStack();
    withMount({ lower: [x.lower], upper: x.upper, work: x.work, target: x.target, options: { userxattr: true } }, () => {
      rmSync(join(x.target, 'gone.txt'));
      rmSync(join(x.target, 'redo'), { recursive: true });
      mkdirSync(join(x.target, 'redo'));
    });
    expect(whiteoutKindSync(join(x.upper, 'gone.txt'), { namespace: 'user' })).toBe('device');
    expect(getOpaqueSync(join(x.upper, 'redo'), { namespace: 'user' })).toBe('y');
    expect(getOpaqueSync(join(x.upper, 'redo'))).toBeUndefined();
    expect(sys.listxattrSync(join(x.upper, 'redo')).filter((n) => n.startsWith('trusted.'))).toEqual([]);
  });
});

describePrivileged('markers: metacopy and origin values the kernel may write, parsed', () => {
  it('a metacopy with an fs-verity digest, a zero-length origin, an origin of another format', () => {
    const root = tempDir();
    writeTree(root, { 'f.txt': 'data', 'g.txt': 'data', 'h.txt': 'data' });
    const digest = Buffer.alloc(32, 0xab);
    // struct ovl_metacopy { version 0, len (header + digest), flags, digest_algo 1 (sha256), digest }
    const meta = Buffer.concat([Buffer.from([0, 4 + 32, 0, 1]), digest]);
    for (const ns of ['trusted', 'user'] as const) {
      sys.setxattrSync(join(root, 'f.txt'), `${ns}.overlay.metacopy`, meta);
      expect(getMetacopySync(join(root, 'f.txt'), { namespace: ns })).toEqual({ legacy: false, version: 0, flags: 0, digestAlgo: 1, digest });
      sys.setxattrSync(join(root, 'g.txt'), `${ns}.overlay.origin`, Buffer.alloc(0));
      expect(getOriginSync(join(root, 'g.txt'), { namespace: ns })).toEqual({ raw: Buffer.alloc(0), unknown: true });
      const other = Buffer.from([1, 0xfa, 3]);
      sys.setxattrSync(join(root, 'h.txt'), `${ns}.overlay.origin`, other);
      expect(getOriginSync(join(root, 'h.txt'), { namespace: ns })).toEqual({ raw: other, unknown: false });
    }
    expect(getMetacopySync(join(root, 'h.txt'))).toBeUndefined();
    expect(getOriginSync(join(root, 'f.txt'))).toBeUndefined();
    // Unlike whiteoutKind (is there a whiteout at this name?), the xattr readers need the file.
    expect(caughtSync(() => getOriginSync(join(root, 'nope'))).code).toBe('ENOENT');
    expect(whiteoutKindSync(join(root, 'nope'))).toBeUndefined();
  });
});

/** Hidden from the merged view: not listed and not stat-able. */
function expectHidden(dir: string, name: string): void {
  expect(readdirSync(dir)).not.toContain(name);
  expect(caughtSync(() => statSync(join(dir, name))).code).toBe('ENOENT');
}

describePrivileged('markers: what we write, honoured by a fresh mount', () => {
  it('createWhiteout hides a lower file; setOpaque hides a lower dir; clearOpaque merges it again', () => {
    const root = tempDir();
    writeTree(root, {
      'lower/gone.txt': 'hidden',
      'lower/kept.txt': 'kept',
      'lower/dir/hidden.txt': 'hidden',
      'lower/dir/sub/deep.txt': 'hidden',
      'upper/dir/own.txt': 'own',
      'm/': null,
    });
    const upper = join(root, 'upper');
    createWhiteoutSync(join(upper, 'gone.txt'));
    expect(whiteoutKindSync(join(upper, 'gone.txt'))).toBe('device');
    expect(lstatSync(join(upper, 'gone.txt')).mode & 0o7777).toBe(0);
    setOpaqueSync(join(upper, 'dir'));
    expect(getOpaqueSync(join(upper, 'dir'))).toBe('y');

    const spec = { lower: [join(root, 'lower')], upper, work: join(root, 'work'), target: join(root, 'm') };
    withMount(spec, () => {
      expectHidden(spec.target, 'gone.txt');
      expect(readdirSync(spec.target).sort()).toEqual(['dir', 'kept.txt']);
      expect(readdirSync(join(spec.target, 'dir'))).toEqual(['own.txt']);
      expectHidden(join(spec.target, 'dir'), 'sub');
    });

    clearOpaqueSync(join(upper, 'dir'));
    clearOpaqueSync(join(upper, 'dir')); // no mark: no error
    expect(getOpaqueSync(join(upper, 'dir'))).toBeUndefined();
    withMount(spec, () => {
      expect(readdirSync(join(spec.target, 'dir')).sort()).toEqual(['hidden.txt', 'own.txt', 'sub']);
    });
    expectUnmounted(spec.target);
  });

  it('setOpaque refuses a non-directory; setRedirect (relative and absolute) is followed', () => {
    const root = tempDir();
    writeTree(root, {
      'lower/orig/a.txt': 'from orig',
      'lower/far/src/b.txt': 'from far/src',
      'lower/f.txt': 'f',
      'upper/renamed/': null,
      'upper/elsewhere/moved/': null,
      'm/': null,
    });
    const upper = join(root, 'upper');
    const err = caughtSync(() => setOpaqueSync(join(root, 'lower/f.txt')));
    expect(err).toBeInstanceOf(OverlayError);
    expect(err.code).toBe('ERR_OVERLAY_MARKER');

    setRedirectSync(join(upper, 'renamed'), 'orig');
    setRedirectSync(join(upper, 'elsewhere/moved'), '/far/src');
    expect(getRedirectSync(join(upper, 'renamed'))).toBe('orig');
    expect(getRedirectSync(join(upper, 'elsewhere/moved'))).toBe('/far/src');
    for (const bad of ['a/b', '', 'x'.repeat(300)]) {
      expect(caughtSync(() => setRedirectSync(join(upper, 'renamed'), bad))).toBeInstanceOf(OverlayError);
    }
    expect(getRedirectSync(join(upper, 'renamed'))).toBe('orig');

    const spec = { lower: [join(root, 'lower')], upper, work: join(root, 'work'), target: join(root, 'm'), options: { redirectDir: 'on' as const } };
    withMount(spec, () => {
      expect(readFileSync(join(spec.target, 'renamed/a.txt'), 'utf8')).toBe('from orig');
      expect(readFileSync(join(spec.target, 'elsewhere/moved/b.txt'), 'utf8')).toBe('from far/src');
    });
  });

  it('createXattrWhiteout in a middle lower layer (parent gets opaque=x) hides from readdir and stat', () => {
    const root = tempDir();
    writeTree(root, {
      'top/d/top.txt': 'top',
      'mid/d/mid.txt': 'mid',
      'bottom/d/gone.txt': 'hidden',
      'bottom/d/kept.txt': 'kept',
      'bottom/rootgone.txt': 'hidden',
      'bottom/rootkept.txt': 'kept',
      'm/': null,
    });
    const mid = join(root, 'mid');
    createXattrWhiteoutSync(join(mid, 'd/gone.txt'), { layer: 'lower' });
    createXattrWhiteoutSync(join(mid, 'rootgone.txt'), { layer: 'lower' });
    expect(whiteoutKindSync(join(mid, 'd/gone.txt'))).toBe('xattr');
    expect(whiteoutKindSync(join(mid, 'd/gone.txt'), { namespace: 'user' })).toBeUndefined();
    expect(statSync(join(mid, 'd/gone.txt')).size).toBe(0);
    expect(getOpaqueSync(join(mid, 'd'))).toBe('x');
    expect(getOpaqueSync(mid)).toBe('x'); // the layer root holds one too
    expect(whiteoutKindSync(join(mid, 'd/mid.txt'))).toBeUndefined();

    const target = join(root, 'm');
    withMount({ lower: [join(root, 'top'), mid, join(root, 'bottom')], target }, () => {
      expectHidden(join(target, 'd'), 'gone.txt');
      expect(readdirSync(join(target, 'd')).sort()).toEqual(['kept.txt', 'mid.txt', 'top.txt']);
      expectHidden(target, 'rootgone.txt');
      expect(readdirSync(target).sort()).toEqual(['d', 'rootkept.txt']);
    });
    expectUnmounted(target);
  });

  it("createXattrWhiteout keeps an opaque 'y' parent, and refuses 'upper' and 'lowermost'", () => {
    const root = tempDir();
    writeTree(root, { 'layer/y/': null, 'layer/plain/': null });
    setOpaqueSync(join(root, 'layer/y'));
    createXattrWhiteoutSync(join(root, 'layer/y/w'), { layer: 'lower' });
    expect(getOpaqueSync(join(root, 'layer/y'))).toBe('y');

    for (const layer of ['upper', 'lowermost'] as const) {
      const path = join(root, 'layer/plain', layer);
      const err = caughtSync(() => createXattrWhiteoutSync(path, { layer }));
      expect(err).toBeInstanceOf(OverlayError);
      expect(err.code).toBe('ERR_OVERLAY_MARKER');
      expect(err.path).toBe(path);
      expect(existsSync(path)).toBe(false);
    }
    expect(getOpaqueSync(join(root, 'layer/plain'))).toBeUndefined();
    // An existing name is never overwritten (O_EXCL).
    writeFileSync(join(root, 'layer/plain/taken'), 'data');
    expect(caughtSync(() => createXattrWhiteoutSync(join(root, 'layer/plain/taken'), { layer: 'lower' })).code).toBe('EEXIST');
    expect(readFileSync(join(root, 'layer/plain/taken'), 'utf8')).toBe('data');
  });
});

describePrivileged('markers in bulk: applyMarkers / applyMarkersSync', () => {
  const N = 1000;
  const names = Array.from({ length: N }, (_, i) => `f${String(i).padStart(4, '0')}.txt`);

  interface BulkStack {
    root: string;
    lower: string;
    upper: string;
    work: string;
    target: string;
  }

  /** On a tmpfs: this VM's disk takes seconds to create a thousand files. */
  async function withBulkStack(fn: (x: BulkStack) => void | Promise<void>): Promise<void> {
    const root = tempDir();
    const fs = tmpfsMountSync(root);
    try {
      await fn(bulkStack(root));
    } finally {
      fs.unmountSync();
    }
  }

  function bulkStack(root: string): BulkStack {
    const tree: Record<string, string | null> = { 'upper/': null, 'm/': null, 'lower/kept.txt': 'kept' };
    for (const n of names) tree[`lower/${n}`] = n;
    for (let i = 0; i < 10; i++) {
      tree[`lower/d${i}/hidden.txt`] = 'hidden';
      tree[`upper/d${i}/own.txt`] = 'own';
    }
    writeTree(root, tree);
    return { root, lower: join(root, 'lower'), upper: join(root, 'upper'), work: join(root, 'work'), target: join(root, 'm') };
  }

  function ops(x: { upper: string }): MarkerOp[] {
    return [
      ...names.map((n): MarkerOp => ({ op: 'whiteout', path: join(x.upper, n) })),
      ...Array.from({ length: 10 }, (_, i): MarkerOp => ({ op: 'opaque', path: join(x.upper, `d${i}`) })),
    ];
  }

  function expectApplied(x: { lower: string; upper: string; work: string; target: string }): void {
    expect(names.filter((n) => whiteoutKindSync(join(x.upper, n)) !== 'device')).toEqual([]);
    withMount({ lower: [x.lower], upper: x.upper, work: x.work, target: x.target }, () => {
      expect(readdirSync(x.target).sort()).toEqual([...Array.from({ length: 10 }, (_, i) => `d${i}`), 'kept.txt']);
      for (let i = 0; i < 10; i++) expect(readdirSync(join(x.target, `d${i}`))).toEqual(['own.txt']);
    });
  }

  it(`applyMarkersSync: ${N} whiteouts and 10 opaque marks in one call, honoured by a mount`, async () => {
    await withBulkStack((x) => {
      applyMarkersSync(ops(x));
      expectApplied(x);
    });
  });

  it(`applyMarkers (Promise): the same, then clear-opaque and redirect`, async () => {
    await withBulkStack(async (x) => {
      await applyMarkers(ops(x));
      expectApplied(x);
      writeTree(x.root, { 'lower/orig/a.txt': 'a', 'upper/renamed/': null });
      await applyMarkers([
        { op: 'clear-opaque', path: join(x.upper, 'd0') },
        { op: 'clear-opaque', path: join(x.upper, 'd0') }, // ENODATA is fine
        { op: 'redirect', path: join(x.upper, 'renamed'), target: 'orig' },
        { op: 'opaque', path: join(x.upper, 'd1'), value: 'x' },
      ]);
      expect(getOpaqueSync(join(x.upper, 'd0'))).toBeUndefined();
      expect(getOpaqueSync(join(x.upper, 'd1'))).toBe('x');
      expect(getRedirectSync(join(x.upper, 'renamed'))).toBe('orig');
      withMount({ lower: [x.lower], upper: x.upper, work: x.work, target: x.target, options: { redirectDir: 'on' } }, () => {
        expect(readdirSync(join(x.target, 'd0')).sort()).toEqual(['hidden.txt', 'own.txt']);
        expect(readdirSync(join(x.target, 'renamed'))).toEqual(['a.txt']);
      });
    });
  });

  it('a failing op reports its index as `step`; the ops before it are done, the ones after are not', async () => {
    for (const [name, apply] of [
      ['sync', (o: MarkerOp[]) => applyMarkersSync(o)],
      ['async', (o: MarkerOp[]) => applyMarkers(o)],
    ] as const) {
      const root = tempDir();
      writeTree(root, { 'u/': null });
      const batch: MarkerOp[] = [
        { op: 'whiteout', path: join(root, 'u/a') },
        { op: 'whiteout', path: join(root, 'u/b') },
        { op: 'whiteout', path: join(root, 'u/a') }, // EEXIST
        { op: 'whiteout', path: join(root, 'u/c') },
      ];
      const err = await caught(() => apply(batch));
      expect(err.code, name).toBe('EEXIST');
      expect(err.step, name).toBe(2);
      expect(isWhiteoutSync(join(root, 'u/a'))).toBe(true);
      expect(isWhiteoutSync(join(root, 'u/b'))).toBe(true);
      expect(existsSync(join(root, 'u/c'))).toBe(false);
      const missing = await caught(() => apply([{ op: 'opaque', path: join(root, 'u/nope') }]));
      expect(missing.code, name).toBe('ENOENT');
      expect(missing.step, name).toBe(0);
    }
  });
});

describePrivileged('markers in the user namespace, honoured by a userxattr mount', () => {
  it("opaque 'y', an xattr whiteout in a middle layer (opaque 'x') and bulk ops with namespace 'user'", async () => {
    const root = tempDir();
    writeTree(root, {
      'top/d/top.txt': 'top',
      'mid/d/': null,
      'mid/op/own.txt': 'own',
      'bottom/d/gone.txt': 'hidden',
      'bottom/d/kept.txt': 'kept',
      'bottom/op/hidden.txt': 'hidden',
      'bottom/tgone.txt': 'hidden',
      'bottom/bulk/hidden.txt': 'hidden',
      'upper/bulk/own.txt': 'own',
      'bottom/bulkgone.txt': 'hidden',
      'm/': null,
    });
    const mid = join(root, 'mid');
    const upper = join(root, 'upper');
    const user = { namespace: 'user' } as const;
    setOpaqueSync(join(mid, 'op'), 'y', user);
    createXattrWhiteoutSync(join(mid, 'd/gone.txt'), { layer: 'lower', ...user });
    // A trusted.* mark means nothing to a userxattr mount.
    createXattrWhiteoutSync(join(mid, 'tgone.txt'), { layer: 'lower' });
    await applyMarkers(
      [
        { op: 'opaque', path: join(upper, 'bulk') },
        { op: 'whiteout', path: join(upper, 'bulkgone.txt') },
      ],
      user,
    );
    expect(getOpaqueSync(join(mid, 'op'), user)).toBe('y');
    expect(getOpaqueSync(join(mid, 'op'))).toBeUndefined();
    expect(getOpaqueSync(join(mid, 'd'), user)).toBe('x');
    expect(whiteoutKindSync(join(mid, 'd/gone.txt'), user)).toBe('xattr');
    expect(whiteoutKindSync(join(mid, 'd/gone.txt'))).toBeUndefined();
    expect(getOpaqueSync(join(upper, 'bulk'), user)).toBe('y');
    expect(sys.getxattrSync(join(upper, 'bulk'), 'user.overlay.opaque').toString()).toBe('y');

    const target = join(root, 'm');
    const spec = { lower: [join(root, 'top'), mid, join(root, 'bottom')], upper, work: join(root, 'work'), target, options: { userxattr: true } };
    withMount(spec, () => {
      expect(readdirSync(join(target, 'op'))).toEqual(['own.txt']);
      expectHidden(join(target, 'd'), 'gone.txt');
      expect(readdirSync(join(target, 'd')).sort()).toEqual(['kept.txt', 'top.txt']);
      expect(readdirSync(join(target, 'bulk'))).toEqual(['own.txt']);
      expectHidden(target, 'bulkgone.txt');
      // The trusted.overlay.whiteout file is an ordinary empty file here.
      expect(readFileSync(join(target, 'tgone.txt'), 'utf8')).toBe('');
    });
    expectUnmounted(target);
  });
});

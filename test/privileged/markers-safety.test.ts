/**
 * Where marker writers write (issue #13, items 4 and 5): never through a mounted overlay (the
 * kernel would store an escaped, meaningless xattr in the upper), and never out of the layer
 * through a symlink in the path. Each writer in its …Sync and its Promise form.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  applyMarkers,
  applyMarkersSync,
  clearOpaque,
  clearOpaqueSync,
  createWhiteout,
  createWhiteoutSync,
  createXattrWhiteout,
  createXattrWhiteoutSync,
  getOpaqueSync,
  getRedirectSync,
  isWhiteoutSync,
  OverlayError,
  setOpaque,
  setOpaqueSync,
  setRedirect,
  setRedirectSync,
  sys,
  tmpfsMountSync,
  whiteoutKindSync,
  type MarkerOp,
} from '../../src/index.js';
import { caught, expectUnmounted } from '../helpers/overlay.js';
import { withMountAsync } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** The writers with their options as one loose signature, so a table can call either form. */
type Fn = (...args: unknown[]) => unknown;
interface Writers {
  name: string;
  createWhiteout: Fn;
  setOpaque: Fn;
  clearOpaque: Fn;
  setRedirect: Fn;
  createXattrWhiteout: Fn;
  applyMarkers: Fn;
}

const FORMS: Writers[] = [
  {
    name: 'Sync',
    createWhiteout: createWhiteoutSync as Fn,
    setOpaque: setOpaqueSync as Fn,
    clearOpaque: clearOpaqueSync as Fn,
    setRedirect: setRedirectSync as Fn,
    createXattrWhiteout: createXattrWhiteoutSync as Fn,
    applyMarkers: applyMarkersSync as Fn,
  },
  {
    name: 'Promise',
    createWhiteout: createWhiteout as Fn,
    setOpaque: setOpaque as Fn,
    clearOpaque: clearOpaque as Fn,
    setRedirect: setRedirect as Fn,
    createXattrWhiteout: createXattrWhiteout as Fn,
    applyMarkers: applyMarkers as Fn,
  },
];

/** Every overlay xattr name found on any entry below `dir` (the escaped ones included). */
function overlayXattrsUnder(dir: string): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    for (const name of sys.listxattrSync(path)) if (name.includes('.overlay.')) found.push(`${path}: ${name}`);
    if (lstatSync(path).isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry));
  };
  visit(dir);
  return found;
}

function expectRefusedOnOverlay(err: Record<string, unknown>, path: string): void {
  expect(err).toBeInstanceOf(OverlayError);
  expect(err.code).toBe('ERR_OVERLAY_MARKER');
  expect(err.path).toBe(path);
  expect(err.message).toMatch(/mounted overlay/);
  expect(err.message).toMatch(/layer directory/);
}

describePrivileged('marker writers refuse a path on a mounted overlay', () => {
  for (const w of FORMS) {
    it(`${w.name}: every writer and every applyMarkers op, on the merged view and on the mount point itself`, async () => {
      const root = tempDir();
      writeTree(root, {
        'lower/dir/a.txt': 'a',
        'lower/f.txt': 'f',
        'lower/orig/': null,
        'upper/': null,
        'm/': null,
      });
      const upper = join(root, 'upper');
      const m = join(root, 'm');
      await withMountAsync({ lower: [join(root, 'lower')], upper, work: join(root, 'work'), target: m }, async () => {
        const at = (p: string) => join(m, p);
        const attempts: Array<[string, () => unknown]> = [
          [at('new'), () => w.createWhiteout(at('new'))],
          [at('dir'), () => w.setOpaque(at('dir'))],
          [m, () => w.setOpaque(m)],
          [at('dir'), () => w.clearOpaque(at('dir'))],
          [at('dir'), () => w.setRedirect(at('dir'), 'orig')],
          [at('dir/x'), () => w.createXattrWhiteout(at('dir/x'), { layer: 'lower' })],
          [at('dir/y'), () => w.applyMarkers([{ op: 'whiteout', path: at('dir/y') }])],
          [at('dir'), () => w.applyMarkers([{ op: 'opaque', path: at('dir') }])],
          [at('dir'), () => w.applyMarkers([{ op: 'clear-opaque', path: at('dir') }])],
          [at('dir'), () => w.applyMarkers([{ op: 'redirect', path: at('dir'), target: 'orig' }])],
          // With a root too: the root itself is on the overlay.
          [at('dir'), () => w.setOpaque(at('dir'), 'y', { root: m })],
          [at('dir/z'), () => w.createWhiteout(at('dir/z'), { root: m })],
        ];
        for (const [path, attempt] of attempts) expectRefusedOnOverlay(await caught(attempt), path);
        // Nothing was made in the merged view.
        expect(readdirSync(m).sort()).toEqual(['dir', 'f.txt', 'orig']);
        expect(readdirSync(at('dir'))).toEqual(['a.txt']);
      });
      expectUnmounted(m);
      // Nothing reached the upper: no whiteout, no escaped trusted.overlay.overlay.* xattr.
      expect(overlayXattrsUnder(upper).filter((x) => x.includes('overlay.overlay.'))).toEqual([]);
      expect(readdirSync(upper)).toEqual([]);
      // The layer directory itself is where markers go.
      await w.setOpaque(join(root, 'lower/dir'));
      expect(getOpaqueSync(join(root, 'lower/dir'))).toBe('y');
    });

    it(`${w.name}: an entry that is a mount point, not of an overlay, is checked by itself and marked`, async () => {
      const root = tempDir();
      writeTree(root, { 'layer/a/': null, 'layer/mnt/': null, 'layer/b/': null });
      const layer = join(root, 'layer');
      const volume = tmpfsMountSync(join(layer, 'mnt'));
      try {
        await w.applyMarkers(['a', 'mnt', 'b'].map((d): MarkerOp => ({ op: 'opaque', path: join(layer, d) })));
        await w.setRedirect(join(layer, 'mnt'), 'orig', { root: layer });
        for (const d of ['a', 'mnt', 'b']) expect(getOpaqueSync(join(layer, d))).toBe('y');
        expect(getRedirectSync(join(layer, 'mnt'))).toBe('orig');
      } finally {
        volume.unmountSync();
      }
      expect(getOpaqueSync(join(layer, 'mnt'))).toBeUndefined(); // the marks were on the tmpfs
    });

    it(`${w.name}: applyMarkers stops at the op on the overlay; its field names the op`, async () => {
      const root = tempDir();
      writeTree(root, { 'lower/dir/': null, 'upper/': null, 'plain/': null, 'm/': null });
      const m = join(root, 'm');
      await withMountAsync({ lower: [join(root, 'lower')], upper: join(root, 'upper'), work: join(root, 'work'), target: m }, async () => {
        const err = await caught(() =>
          w.applyMarkers([
            { op: 'whiteout', path: join(root, 'plain/before') },
            { op: 'opaque', path: join(m, 'dir') },
            { op: 'whiteout', path: join(root, 'plain/after') },
          ]),
        );
        expectRefusedOnOverlay(err, join(m, 'dir'));
        expect(err.field).toBe('ops[1].path');
      });
      expectUnmounted(m);
      expect(isWhiteoutSync(join(root, 'plain/before'))).toBe(true);
      expect(existsSync(join(root, 'plain/after'))).toBe(false);
    });
  }
});

interface LinkedLayer {
  root: string;
  layer: string;
  other: string;
}

/**
 * layer/linkparent -> other (absolute), layer/rel -> ../other (relative), layer/inner -> d (a
 * link that stays inside), layer/linkdir -> other/d (the final component a link); other/d is
 * opaque, so a write that escapes or a clear through a link shows.
 */
function linkedLayer(): LinkedLayer {
  const root = tempDir();
  writeTree(root, { 'layer/d/': null, 'other/d/': null });
  const layer = join(root, 'layer');
  const other = join(root, 'other');
  symlinkSync(other, join(layer, 'linkparent'));
  symlinkSync('../other', join(layer, 'rel'));
  symlinkSync('d', join(layer, 'inner'));
  symlinkSync(join(other, 'd'), join(layer, 'linkdir'));
  sys.setxattrSync(join(other, 'd'), 'trusted.overlay.opaque', 'y');
  return { root, layer, other };
}

/** Nothing of `other` was touched: no new entry, its dir still opaque, no redirect. */
function expectOtherUntouched(x: LinkedLayer): void {
  expect(readdirSync(x.other)).toEqual(['d']);
  expect(readdirSync(join(x.other, 'd'))).toEqual([]);
  expect(getOpaqueSync(join(x.other, 'd'))).toBe('y');
  expect(getRedirectSync(join(x.other, 'd'))).toBeUndefined();
  expect(getOpaqueSync(x.other)).toBeUndefined();
}

/** A kernel refusal in Node's fs shape. */
function expectSystemError(err: Record<string, unknown>, code: string, syscall: string, path: string): void {
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(OverlayError);
  expect(err.code).toBe(code);
  expect(err.syscall).toBe(syscall);
  expect(err.path).toBe(path);
  expect(typeof err.errno).toBe('number');
  expect(err.errno as number).toBeLessThan(0);
  expect(err.message).toMatch(new RegExp(`^${code}: .*, ${syscall} '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
}

describePrivileged('marker writers do not follow symlinks out of the layer', () => {
  for (const w of FORMS) {
    it(`${w.name}: a symlink in the parent chain is refused (ELOOP), with or without root`, async () => {
      const x = linkedLayer();
      const { layer } = x;
      for (const options of [undefined, { root: layer }]) {
        const opts = options ? [options] : [];
        for (const parent of ['linkparent', 'rel', 'inner']) {
          // The error names the directory refused: the link.
          const link = join(layer, parent);
          expectSystemError(await caught(() => w.createWhiteout(join(link, 'wh'), ...opts)), 'ELOOP', 'openat2', link);
          const d = join(layer, parent, 'd');
          expectSystemError(await caught(() => w.setOpaque(d, 'y', ...opts)), 'ELOOP', 'openat2', link);
          expectSystemError(await caught(() => w.clearOpaque(d, ...opts)), 'ELOOP', 'openat2', link);
          expectSystemError(await caught(() => w.setRedirect(d, 'elsewhere', ...opts)), 'ELOOP', 'openat2', link);
          expectSystemError(await caught(() => w.createXattrWhiteout(join(link, 'xw'), { layer: 'lower', ...options })), 'ELOOP', 'openat2', link);
          const err = await caught(() =>
            w.applyMarkers(
              [
                { op: 'whiteout', path: join(layer, 'd/ok') },
                { op: 'clear-opaque', path: d },
              ],
              ...opts,
            ),
          );
          expectSystemError(err, 'ELOOP', 'openat2', link);
          expect(err.step).toBe(1);
          expect(isWhiteoutSync(join(layer, 'd/ok'))).toBe(true);
          rmSync(join(layer, 'd/ok'));
        }
        expectOtherUntouched(x);
      }
    });

    it(`${w.name}: the final component is never followed`, async () => {
      const x = linkedLayer();
      const link = join(x.layer, 'linkdir');
      const opaque = await caught(() => w.setOpaque(link));
      expect(opaque).toBeInstanceOf(OverlayError);
      expect(opaque.code).toBe('ERR_OVERLAY_MARKER');
      expectSystemError(await caught(() => w.clearOpaque(link)), 'ELOOP', 'openat2', link);
      expectSystemError(await caught(() => w.setRedirect(link, 'elsewhere')), 'ELOOP', 'openat2', link);
      expectSystemError(await caught(() => w.applyMarkers([{ op: 'opaque', path: link }])), 'ELOOP', 'openat2', link);
      // mknod(2) never follows: the name is taken.
      expectSystemError(await caught(() => w.createWhiteout(link)), 'EEXIST', 'mknod', link);
      expectSystemError(await caught(() => w.createXattrWhiteout(link, { layer: 'lower' })), 'EEXIST', 'openat2', link);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expectOtherUntouched(x);
    });

    it(`${w.name}: followSymlinks: true writes through the link (the caller asked for it)`, async () => {
      const x = linkedLayer();
      await w.createWhiteout(join(x.layer, 'linkparent/wh'), { followSymlinks: true });
      expect(whiteoutKindSync(join(x.other, 'wh'))).toBe('device');
      await w.clearOpaque(join(x.layer, 'rel/d'), { followSymlinks: true });
      expect(getOpaqueSync(join(x.other, 'd'))).toBeUndefined();
      await w.applyMarkers([{ op: 'opaque', path: join(x.layer, 'linkparent/d') }], { followSymlinks: true });
      expect(getOpaqueSync(join(x.other, 'd'))).toBe('y');
      // Still not the final component.
      expectSystemError(await caught(() => w.setRedirect(join(x.layer, 'linkdir'), 'e', { followSymlinks: true })), 'ELOOP', 'openat2', join(x.layer, 'linkdir'));
      // Beneath a root, a link may be followed only while it stays inside.
      mkdirSync(join(x.layer, 'd/sub'));
      await w.setOpaque(join(x.layer, 'inner/sub'), 'x', { root: x.layer, followSymlinks: true });
      expect(getOpaqueSync(join(x.layer, 'd/sub'))).toBe('x');
      await w.createWhiteout(join(x.layer, 'inner/wh'), { root: x.layer, followSymlinks: true });
      expect(whiteoutKindSync(join(x.layer, 'd/wh'))).toBe('device');
      const wh = join(x.layer, 'linkparent/wh2');
      expectSystemError(await caught(() => w.createWhiteout(wh, { root: x.layer, followSymlinks: true })), 'EXDEV', 'openat2', join(x.layer, 'linkparent'));
      expect(existsSync(join(x.other, 'wh2'))).toBe(false);
    });

    it(`${w.name}: with root, a path outside it is refused before any syscall`, async () => {
      const x = linkedLayer();
      const { layer, other } = x;
      for (const path of [join(other, 'wh'), join(x.root, 'layerx/wh'), '/wh', `${x.root}/other/../layer/d/wh`]) {
        const err = await caught(() => w.createWhiteout(path, { root: layer }));
        expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(err.message).toMatch(/'path'.*not inside.*root/);
      }
      // The text is what is checked, not where '..' leads: that is the kernel's (RESOLVE_BENEATH).
      expectSystemError(await caught(() => w.createWhiteout(`${layer}/../other/wh`, { root: layer })), 'EXDEV', 'openat2', `${layer}/../other`);
      // '//' and '.' components change nothing, in the path or the root.
      await w.createWhiteout(`${x.root}//layer/./d/wh`, { root: `${layer}/.//` });
      expect(whiteoutKindSync(join(layer, 'd/wh'))).toBe('device');
      expect((await caught(() => w.setOpaque(join(other, 'd'), 'y', { root: layer }))).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((await caught(() => w.clearOpaque(join(other, 'd'), { root: layer }))).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((await caught(() => w.setRedirect(join(other, 'd'), 'e', { root: layer }))).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((await caught(() => w.createXattrWhiteout(join(other, 'xw'), { layer: 'lower', root: layer }))).code).toBe('ERR_INVALID_ARG_VALUE');
      // applyMarkers checks every op first: the op inside is not made either.
      const err = await caught(() =>
        w.applyMarkers(
          [
            { op: 'whiteout', path: join(layer, 'd/inside') },
            { op: 'whiteout', path: join(other, 'outside') },
          ] satisfies MarkerOp[],
          { root: layer },
        ),
      );
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toMatch(/'ops\[1\]\.path'.*not inside.*root/);
      expect(existsSync(join(layer, 'd/inside'))).toBe(false);
      // The options themselves, checked as Node checks arguments.
      expect((await caught(() => w.createWhiteout(join(layer, 'wh'), { root: 42 }))).code).toBe('ERR_INVALID_ARG_TYPE');
      expect((await caught(() => w.setOpaque(join(layer, 'd'), 'y', { followSymlinks: 'yes' }))).code).toBe('ERR_INVALID_ARG_TYPE');
      expect((await caught(() => w.createWhiteout(layer, { root: layer }))).message).toMatch(/'path' is not inside root .*the root itself/);
      if (w.name === 'Promise') {
        const p = w.createWhiteout(join(other, 'wh'), { root: layer }) as Promise<void>;
        expect(p).toBeInstanceOf(Promise); // rejects, never throws
        await expect(p).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
      }
      expectOtherUntouched(x);
    });

    it(`${w.name}: beneath a root (reached through a link of its own), markers land in the layer`, async () => {
      const x = linkedLayer();
      const alias = join(x.root, 'alias');
      mkdirSync(join(x.layer, 'sub/deeper'), { recursive: true });
      symlinkSync(x.layer, alias);
      const root = { root: alias };
      await w.createWhiteout(join(alias, 'd/wh'), root);
      await w.setOpaque(join(alias, 'sub'), 'y', root);
      await w.setRedirect(join(alias, 'sub/deeper'), 'orig', root);
      await w.setOpaque(alias, 'x', root); // the root itself
      await w.createXattrWhiteout(join(alias, 'sub/deeper/xw'), { layer: 'lower', ...root });
      await w.applyMarkers(
        [
          { op: 'whiteout', path: join(alias, 'sub/wh') },
          { op: 'clear-opaque', path: join(alias, 'sub') },
        ],
        root,
      );
      expect(whiteoutKindSync(join(x.layer, 'd/wh'))).toBe('device');
      expect(whiteoutKindSync(join(x.layer, 'sub/wh'))).toBe('device');
      expect(getOpaqueSync(join(x.layer, 'sub'))).toBeUndefined();
      expect(getRedirectSync(join(x.layer, 'sub/deeper'))).toBe('orig');
      expect(getOpaqueSync(x.layer)).toBe('x');
      expect(whiteoutKindSync(join(x.layer, 'sub/deeper/xw'))).toBe('xattr');
      expect(getOpaqueSync(join(x.layer, 'sub/deeper'))).toBe('x');
      expectOtherUntouched(x);
    });
  }
});

interface DotLayer {
  root: string;
  /** The layer: real/sub/, sub/ (where a textual '..' of link/../sub would land), f.txt. */
  L: string;
  /** Beside the layer, where `L/out` leads. */
  outside: string;
}

/** L/link -> real/sub (inside), L/out -> ../outside (out of L). */
function dotLayer(): DotLayer {
  const root = tempDir();
  writeTree(root, { 'L/real/sub/': null, 'L/sub/': null, 'L/f.txt': 'f', 'outside/': null });
  const L = join(root, 'L');
  symlinkSync('real/sub', join(L, 'link'));
  symlinkSync('../outside', join(L, 'out'));
  return { root, L, outside: join(root, 'outside') };
}

/** An fs-shaped error of `code` from `syscall` (its path is checked by the tests of error paths). */
function expectCode(err: Record<string, unknown>, code: string, syscall: string): void {
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(OverlayError);
  expect({ code: err.code, syscall: err.syscall }).toEqual({ code, syscall });
}

describePrivileged('marker paths mean what the kernel makes of them', () => {
  for (const w of FORMS) {
    it(`${w.name}: '..' is the kernel's to resolve, after the link before it (never collapsed as text)`, async () => {
      const { root, L, outside } = dotLayer();
      // L/link/.. is L/real, reached through a link: refused when no link may be followed.
      expectCode(await caught(() => w.createWhiteout(`${L}/link/../w1`)), 'ELOOP', 'openat2');
      expectCode(await caught(() => w.setOpaque(`${L}/link/../sub`)), 'ELOOP', 'openat2');
      expectCode(await caught(() => w.createWhiteout(`${L}/link/../w1`, { root: L })), 'ELOOP', 'openat2');
      expectCode(await caught(() => w.applyMarkers([{ op: 'whiteout', path: `${L}/link/../w1` }])), 'ELOOP', 'openat2');
      expect(existsSync(join(L, 'w1'))).toBe(false);
      expect(getOpaqueSync(join(L, 'sub'))).toBeUndefined();
      // Followed, it is where the kernel goes: L/real, not L.
      await w.createWhiteout(`${L}/link/../w2`, { followSymlinks: true });
      await w.setOpaque(`${L}/link/../sub`, 'y', { followSymlinks: true });
      await w.applyMarkers([{ op: 'whiteout', path: `${L}/link/../w3` }], { followSymlinks: true });
      await w.createXattrWhiteout(`${L}/link/../xw`, { layer: 'lower', followSymlinks: true });
      await w.createWhiteout(`${L}/link/../w4`, { root: L, followSymlinks: true });
      for (const name of ['w2', 'w3', 'w4']) expect(whiteoutKindSync(join(L, 'real', name))).toBe('device');
      expect(whiteoutKindSync(join(L, 'real/xw'))).toBe('xattr');
      expect(getOpaqueSync(join(L, 'real/sub'))).toBe('y');
      expect(readdirSync(L).sort()).toEqual(['f.txt', 'link', 'out', 'real', 'sub']);
      expect(getOpaqueSync(join(L, 'sub'))).toBeUndefined();
      // '..' with no link before it, beneath a root and not.
      await w.createWhiteout(`${L}/real/sub/../w5`);
      await w.createWhiteout(`${L}/real/sub/../w6`, { root: L });
      for (const name of ['w5', 'w6']) expect(whiteoutKindSync(join(L, 'real', name))).toBe('device');
      // Beneath a root, '..' may not lead out of it, through a link or by itself (RESOLVE_BENEATH).
      expectCode(await caught(() => w.createWhiteout(`${L}/out/../esc`, { root: L, followSymlinks: true })), 'EXDEV', 'openat2');
      expectCode(await caught(() => w.createWhiteout(`${L}/../outside/esc`, { root: L })), 'EXDEV', 'openat2');
      expectCode(await caught(() => w.setOpaque(`${L}/real/../../outside`, 'y', { root: L })), 'EXDEV', 'openat2');
      expect(existsSync(join(L, 'esc'))).toBe(false);
      expect(readdirSync(root).sort()).toEqual(['L', 'outside']);
      expect(readdirSync(outside)).toEqual([]);
      expect(getOpaqueSync(outside)).toBeUndefined();
    });

    it(`${w.name}: a path ending in '.' or '..' names no entry of its own: refused`, async () => {
      const { L } = dotLayer();
      const attempts: Array<[string, () => unknown]> = [
        ['path', () => w.createWhiteout(`${L}/real/..`)],
        ['path', () => w.createWhiteout(`${L}/real/.`)],
        ['path', () => w.createWhiteout(`${L}/real/sub/..`, { root: L })],
        ['path', () => w.createXattrWhiteout(`${L}/real/sub/..`, { layer: 'lower' })],
        ['dir', () => w.setOpaque(`${L}/real/sub/..`)],
        ['dir', () => w.setOpaque(`${L}/real/.`, 'y', { root: L })],
        ['dir', () => w.clearOpaque(`${L}/real/sub/..`)],
        ['path', () => w.setRedirect(`${L}/real/sub/..`, 'orig')],
        ['ops[1].path', () => w.applyMarkers([{ op: 'opaque', path: join(L, 'sub') }, { op: 'opaque', path: `${L}/real/sub/..` }])],
      ];
      for (const [field, attempt] of attempts) {
        const err = await caught(attempt);
        expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(err.message).toContain(`'${field}'`);
        expect(err.message).toMatch(/'\.' or '\.\.'/);
      }
      expect(getOpaqueSync(join(L, 'real'))).toBeUndefined();
      expect(getOpaqueSync(join(L, 'sub'))).toBeUndefined(); // applyMarkers checks every op first
      expect(readdirSync(L).sort()).toEqual(['f.txt', 'link', 'out', 'real', 'sub']);
    });

    it(`${w.name}: a trailing '/' means a directory: refused for a whiteout, required of the others`, async () => {
      const { L } = dotLayer();
      const attempts: Array<[string, () => unknown]> = [
        ['path', () => w.createWhiteout(`${L}/real/new/`)],
        ['path', () => w.createWhiteout(`${L}/real/new//`, { root: L })],
        ['path', () => w.createXattrWhiteout(`${L}/real/new/`, { layer: 'lower' })],
        ['ops[0].path', () => w.applyMarkers([{ op: 'whiteout', path: `${L}/real/new/` }])],
      ];
      for (const [field, attempt] of attempts) {
        const err = await caught(attempt);
        expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
        expect(err.message).toContain(`'${field}' ends in '/'`);
      }
      expect(readdirSync(join(L, 'real'))).toEqual(['sub']);
      // A directory's marker: the '/' is fine...
      await w.setOpaque(`${L}/real/sub/`);
      await w.setRedirect(`${L}/real/sub//`, 'orig', { root: L });
      expect(getOpaqueSync(join(L, 'real/sub'))).toBe('y');
      expect(getRedirectSync(join(L, 'real/sub'))).toBe('orig');
      await w.clearOpaque(`${L}/real/sub/`);
      expect(getOpaqueSync(join(L, 'real/sub'))).toBeUndefined();
      await w.applyMarkers([{ op: 'opaque', path: `${L}/sub/`, value: 'x' }], { root: `${L}/` });
      expect(getOpaqueSync(join(L, 'sub'))).toBe('x');
      // ...and, as the kernel has it, names a directory only: ENOTDIR for a file.
      const file = `${L}/f.txt/`;
      expectCode(await caught(() => w.clearOpaque(file)), 'ENOTDIR', 'openat2');
      expectCode(await caught(() => w.setRedirect(file, 'orig')), 'ENOTDIR', 'openat2');
      expectCode(await caught(() => w.applyMarkers([{ op: 'redirect', path: file, target: 'orig' }])), 'ENOTDIR', 'openat2');
      expect((await caught(() => w.setOpaque(file))).code).toBe('ERR_OVERLAY_MARKER'); // only directories can be opaque
      expect(getRedirectSync(join(L, 'f.txt'))).toBeUndefined();
    });

    it(`${w.name}: an error names what failed: the root, the marker's parent directory, or the marker`, async () => {
      const { root, L } = dotLayer();
      // The root, as the caller named it.
      const missing = join(root, 'missing');
      expectSystemError(await caught(() => w.createWhiteout(join(missing, 'wh'), { root: missing })), 'ENOENT', 'open', missing);
      expectSystemError(await caught(() => w.setOpaque(join(missing, 'd'), 'y', { root: `${missing}/` })), 'ENOENT', 'open', `${missing}/`);
      expectSystemError(await caught(() => w.createXattrWhiteout(join(missing, 'xw'), { layer: 'lower', root: missing })), 'ENOENT', 'open', missing);
      const bulk = await caught(() => w.applyMarkers([{ op: 'clear-opaque', path: missing }], { root: missing }));
      expectSystemError(bulk, 'ENOENT', 'open', missing);
      expect(bulk.step).toBe(0);
      // The parent: missing, a file, a link, or out of root; as the caller wrote it.
      const nope = join(L, 'nope');
      for (const options of [undefined, { root: L }]) {
        const opts = options ? [options] : [];
        expectSystemError(await caught(() => w.createWhiteout(join(nope, 'wh'), ...opts)), 'ENOENT', 'openat2', nope);
        expectSystemError(await caught(() => w.setOpaque(join(nope, 'd'), 'y', ...opts)), 'ENOENT', 'openat2', nope);
        expectSystemError(await caught(() => w.setRedirect(`${nope}/d/`, 'orig', ...opts)), 'ENOENT', 'openat2', nope);
        expectSystemError(await caught(() => w.createXattrWhiteout(join(nope, 'xw'), { layer: 'lower', ...options })), 'ENOENT', 'openat2', nope);
        expectSystemError(await caught(() => w.createWhiteout(join(L, 'f.txt/wh'), ...opts)), 'ENOTDIR', 'openat2', join(L, 'f.txt'));
        expectSystemError(await caught(() => w.createWhiteout(`${L}//link/../wh`, ...opts)), 'ELOOP', 'openat2', `${L}//link/..`);
        const err = await caught(() =>
          w.applyMarkers(
            [
              { op: 'whiteout', path: join(L, 'real/ok') },
              { op: 'clear-opaque', path: join(nope, 'd') },
            ],
            ...opts,
          ),
        );
        expectSystemError(err, 'ENOENT', 'openat2', nope);
        expect(err.step).toBe(1);
        rmSync(join(L, 'real/ok'));
      }
      expectSystemError(await caught(() => w.createWhiteout(`${L}/out/../esc`, { root: L, followSymlinks: true })), 'EXDEV', 'openat2', `${L}/out/..`);
      // The marker itself.
      expectSystemError(await caught(() => w.setOpaque(join(L, 'gone'))), 'ENOENT', 'openat2', join(L, 'gone'));
      expectSystemError(await caught(() => w.clearOpaque(join(L, 'gone'), { root: L })), 'ENOENT', 'openat2', join(L, 'gone'));
      expectSystemError(await caught(() => w.createWhiteout(join(L, 'real'))), 'EEXIST', 'mknod', join(L, 'real'));
      expectSystemError(await caught(() => w.createXattrWhiteout(join(L, 'f.txt'), { layer: 'lower' })), 'EEXIST', 'openat2', join(L, 'f.txt'));
      expectSystemError(await caught(() => w.applyMarkers([{ op: 'whiteout', path: join(L, 'sub') }], { root: L })), 'EEXIST', 'mknod', join(L, 'sub'));
    });

    it(`${w.name}: a path may be a Buffer, for a name that is not UTF-8 (as the lone-surrogate error says)`, async () => {
      const { L } = dotLayer();
      const bytes = (...parts: Array<string | Buffer>): Buffer => Buffer.concat(parts.map((q) => (typeof q === 'string' ? Buffer.from(q) : q)));
      const odd = Buffer.from([0x64, 0xff, 0xfe]); // 'd' and two bytes that are not UTF-8
      const dir = bytes(L, '/', odd);
      mkdirSync(dir);
      mkdirSync(bytes(dir, '/sub'));
      // A lone surrogate is refused, and the way out the error names is taken.
      const err = await caught(() => w.createWhiteout(`${L}/\uD800`));
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toMatch(/give a Buffer/);
      await w.createWhiteout(bytes(dir, '/', odd));
      await w.createWhiteout(new Uint8Array(bytes(dir, '/w2')));
      await w.setOpaque(dir);
      await w.setRedirect(bytes(dir, '/sub/'), 'orig', { root: L }); // a string root, a Buffer path
      await w.createXattrWhiteout(bytes(dir, '/sub/xw'), { layer: 'lower', root: Buffer.from(L) });
      await w.applyMarkers(
        [
          { op: 'whiteout', path: bytes(dir, '/sub/', odd) },
          { op: 'whiteout', path: join(L, 'real/w3') }, // a string path, a Buffer root
          { op: 'clear-opaque', path: dir },
        ],
        { root: bytes(L, '/') },
      );
      expect(readdirSync(dir, { encoding: 'buffer' }).map((n) => n.toString('hex')).sort()).toEqual([odd.toString('hex'), Buffer.from('sub').toString('hex'), Buffer.from('w2').toString('hex')]);
      expect(whiteoutKindSync(bytes(dir, '/', odd))).toBe('device');
      expect(isWhiteoutSync(bytes(dir, '/w2'))).toBe(true);
      expect(whiteoutKindSync(bytes(dir, '/sub/', odd))).toBe('device');
      expect(whiteoutKindSync(bytes(dir, '/sub/xw'))).toBe('xattr');
      expect(whiteoutKindSync(join(L, 'real/w3'))).toBe('device');
      expect(getOpaqueSync(dir)).toBeUndefined();
      expect(getOpaqueSync(bytes(dir, '/sub'))).toBe('x');
      expect(getRedirectSync(bytes(dir, '/sub'))).toBe('orig');
      // The same rules: '..' left to the kernel, a trailing '/', the root's text; errors read the bytes as UTF-8.
      expectCode(await caught(() => w.createWhiteout(bytes(L, '/link/../', odd))), 'ELOOP', 'openat2');
      expect((await caught(() => w.createWhiteout(bytes(dir, '/new/')))).code).toBe('ERR_INVALID_ARG_VALUE');
      expect((await caught(() => w.createWhiteout(bytes(L, '/../x'), { root: bytes(L, '/real') }))).message).toMatch(/'path' is not inside root/);
      expect((await caught(() => w.createWhiteout(Buffer.from(`${L}/a\0b`)))).code).toBe('ERR_INVALID_ARG_VALUE');
      expectSystemError(await caught(() => w.setOpaque(bytes(dir, '/gone/d'))), 'ENOENT', 'openat2', `${dir.toString()}/gone`);
      expectSystemError(await caught(() => w.createWhiteout(bytes(dir, '/', odd))), 'EEXIST', 'mknod', bytes(dir, '/', odd).toString());
    });
  }
});

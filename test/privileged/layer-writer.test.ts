/**
 * The layer writer as root: ownership (setuid kept after chown), devices and fifos, trusted.*
 * xattrs, both whiteout forms and opaque markers, and the point of it all: whatever the entries
 * say, nothing is written outside the directory. Symlinks planted inside it (absolute, `../`,
 * through /proc/self/root), a hard link target through one, a directory replaced by a symlink
 * in the same batch: each entry beneath them fails with its errno and the entry's path, and the
 * directory outside is unchanged. Both resolution modes.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AT, sys } from '../../src/index.js';
import type { EntryMeta, LayerWriter, LayerWriterOptions, WriteBatch as Batch } from '../../src/sys/layer-writer.js';
import { withMountAsync } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { openFdCount, tempDir } from '../helpers/tmp.js';

const { openLayerWriter, WriteBatch } = sys;

const T = 1_500_000_000;
const meta = (mode: number, extra: Partial<EntryMeta> = {}): EntryMeta => ({ mode, mtimeSec: T, ...extra });
const mode = (p: string) => lstatSync(p).mode & 0o7777;

async function failure(p: Promise<unknown>): Promise<NodeJS.ErrnoException & { step?: number; dest?: string }> {
  try {
    await p;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected the call to fail');
}

/** Everything below `root`: type, content, mode, owner, mtime and xattrs, to prove it unchanged. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      const xattrs = st.isSymbolicLink() ? [] : sys.listxattrSync(p).sort();
      const head = `${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeNs} [${xattrs.join(',')}]`;
      if (st.isDirectory()) {
        out.push(`${head}/`);
        walk(p, r);
      } else if (st.isSymbolicLink()) out.push(`${head} -> ${readlinkSync(p)}`);
      else out.push(`${head}: ${st.isFile() ? readFileSync(p, 'utf8') : 'special'}`);
    }
  };
  out.push(`. ${lstatSync(root, { bigint: true }).mtimeNs}`);
  walk(root, '');
  return out;
}

const modes: Array<[string, LayerWriterOptions]> = [
  ['openat2', {}],
  ['noOpenat2', { noOpenat2: true }],
];

describePrivileged('layer writer as root', () => {
  it('the overlay honours the markers it writes: device and xattr whiteouts, opaque directories', async () => {
    const [bottom, middle, top, target] = [tempDir(), tempDir(), tempDir(), tempDir()];
    const apply = async (dir: string, fill: (b: Batch) => void) => {
      const w = openLayerWriter(dir);
      const b = new WriteBatch();
      fill(b);
      await w.run(b);
      await w.finish();
    };
    await apply(bottom, (b) => {
      for (const f of ['a/keep', 'a/gone-dev', 'a/gone-x', 'o/old', 'o/sub/deep']) {
        b.file(f, meta(0o644));
        b.data(Buffer.from(f));
        b.endFile();
      }
    });
    // The middle layer (not the lowermost: only there does opaque=x make readdir hide xwhiteouts).
    await apply(middle, (b) => {
      b.whiteout('a/gone-dev', 'device', 'trusted');
      b.whiteout('a/gone-x', 'xattr', 'trusted');
      b.opaque('o', 'trusted');
      b.file('o/new', meta(0o644));
      b.endFile();
    });
    await apply(top, (b) => {
      b.file('top', meta(0o600, { uid: 7 }));
      b.endFile();
    });
    await withMountAsync({ lower: [top, middle, bottom], target }, async () => {
      expect(readdirSync(join(target, 'a'))).toEqual(['keep']);
      expect(readFileSync(join(target, 'a/keep'), 'utf8')).toBe('a/keep');
      expect(readdirSync(join(target, 'o'))).toEqual(['new']);
      expect(() => lstatSync(join(target, 'a/gone-x'))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      expect(lstatSync(join(target, 'top')).uid).toBe(7);
    });
  });

  describe.each(modes)('%s', (modeName, options) => {
    const open = (dir: string): LayerWriter => openLayerWriter(dir, options);

    it('chown to the given ids, setuid and setgid kept after it, on files, dirs, symlinks and nodes', async () => {
      const root = tempDir();
      const w = open(root);
      const b = new WriteBatch();
      b.dir('d', meta(0o2775, { uid: 1001, gid: 1002 }));
      b.file('d/suid', meta(0o4755, { uid: 1234, gid: 5678 }));
      b.data(Buffer.from('#!/bin/sh\n'));
      b.endFile();
      b.file('d/sgid', meta(0o2711, { uid: 0, gid: 42 }));
      b.endFile();
      b.symlink('d/link', 'suid', meta(0o777, { uid: 77, gid: 78 }));
      b.node('d/fifo', meta(0o640, { uid: 5, gid: 6 }), 'fifo');
      b.file('d/gid-only', meta(0o644, { gid: 99 }));
      b.endFile();
      await w.run(b);
      await w.finish();
      const st = (p: string) => lstatSync(join(root, p));
      expect([st('d').uid, st('d').gid, mode(join(root, 'd'))]).toEqual([1001, 1002, 0o2775]);
      expect([st('d/suid').uid, st('d/suid').gid, mode(join(root, 'd/suid'))]).toEqual([1234, 5678, 0o4755]);
      expect([st('d/sgid').uid, st('d/sgid').gid, mode(join(root, 'd/sgid'))]).toEqual([0, 42, 0o2711]);
      expect([st('d/link').uid, st('d/link').gid]).toEqual([77, 78]);
      expect([st('d/fifo').uid, st('d/fifo').gid, mode(join(root, 'd/fifo'))]).toEqual([5, 6, 0o640]);
      expect([st('d/gid-only').uid, st('d/gid-only').gid]).toEqual([0, 99]);
    });

    it('devices and fifos with their numbers, modes, times and trusted.* xattrs (never opened)', async () => {
      const root = tempDir();
      const w = open(root);
      const b = new WriteBatch();
      const x: EntryMeta['xattrs'] = [['trusted.t', Buffer.from('v')]];
      b.node('null', meta(0o666, { xattrs: x }), 'char', 1, 3);
      b.node('loop9', meta(0o660, { gid: 6 }), 'block', 7, 9);
      b.node('big', meta(0o600), 'char', 300, 70000);
      b.node('fifo', meta(0o600, { xattrs: x }), 'fifo');
      b.symlink('sym', 'null', meta(0o777, { xattrs: x }));
      b.dir('dir', meta(0o755, { xattrs: x }));
      b.file('file', meta(0o644, { xattrs: [...x, ['security.capability', Buffer.from([1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]] }));
      b.data(Buffer.from('data after which the capability is set'));
      b.endFile();
      await w.run(b);
      await w.finish();
      const sx = (p: string) => sys.statxSync(join(root, p), { flags: AT.SYMLINK_NOFOLLOW });
      expect(lstatSync(join(root, 'null')).isCharacterDevice()).toBe(true);
      expect([sx('null').rdevMajor, sx('null').rdevMinor, mode(join(root, 'null'))]).toEqual([1, 3, 0o666]);
      expect(lstatSync(join(root, 'loop9')).isBlockDevice()).toBe(true);
      expect([sx('loop9').rdevMajor, sx('loop9').rdevMinor, lstatSync(join(root, 'loop9')).gid]).toEqual([7, 9, 6]);
      expect([sx('big').rdevMajor, sx('big').rdevMinor]).toEqual([300, 70000]);
      expect(lstatSync(join(root, 'null')).mtimeMs).toBe(T * 1000);
      for (const p of ['null', 'fifo', 'sym', 'dir', 'file']) expect(sys.getxattrSync(join(root, p), 'trusted.t').toString()).toBe('v');
      expect(sys.getxattrSync(join(root, 'file'), 'security.capability').length).toBe(20);
    });

    it('device whiteouts (0/0) replace what is there; xattr whiteouts and opaque markers in trusted.*', async () => {
      const root = tempDir();
      mkdirSync(join(root, 'tree/sub'), { recursive: true });
      writeFileSync(join(root, 'tree/sub/f'), 'x');
      writeFileSync(join(root, 'file'), 'x');
      const w = open(root);
      const b = new WriteBatch();
      b.whiteout('tree', 'device', 'trusted');
      b.whiteout('file', 'device', 'trusted');
      b.whiteout('new/deeper', 'device', 'trusted');
      b.dir('x', meta(0o755));
      b.whiteout('x/gone', 'xattr', 'trusted');
      b.whiteout('rootlevel', 'xattr', 'trusted');
      b.opaque('o', 'trusted');
      b.opaque('', 'trusted');
      await w.run(b);
      await w.finish();
      for (const p of ['tree', 'file', 'new/deeper']) {
        const st = sys.statxSync(join(root, p), { flags: AT.SYMLINK_NOFOLLOW });
        expect(lstatSync(join(root, p)).isCharacterDevice()).toBe(true);
        expect([st.rdevMajor, st.rdevMinor]).toEqual([0, 0]);
      }
      expect(lstatSync(join(root, 'x/gone')).size).toBe(0);
      expect(sys.listxattrSync(join(root, 'x/gone'))).toEqual(['trusted.overlay.whiteout']);
      expect(sys.getxattrSync(join(root, 'x'), 'trusted.overlay.opaque').toString()).toBe('x');
      // The root was marked x for its xattr whiteout, then y by the opaque entry.
      expect(sys.getxattrSync(root, 'trusted.overlay.opaque').toString()).toBe('y');
      expect(sys.getxattrSync(join(root, 'o'), 'trusted.overlay.opaque').toString()).toBe('y');
    });

    describe('nothing is written outside the directory', () => {
      /** A layer dir with planted symlinks and an outside dir to attack; returns the paths that lead outside. */
      function setup() {
        const root = tempDir();
        const outside = tempDir('ovl-outside-');
        mkdirSync(join(outside, 'sub'));
        writeFileSync(join(outside, 'keep'), 'keep');
        writeFileSync(join(outside, 'sub/inner'), 'inner');
        writeFileSync(join(root, 'inside'), 'inside');
        symlinkSync(outside, join(root, 'abs'));
        symlinkSync(`../${basename(outside)}`, join(root, 'rel'));
        symlinkSync('../../x', join(root, 'up'));
        symlinkSync('/proc/self/root', join(root, 'proc'));
        const before = snapshot(outside);
        const rootBefore = readdirSync(root).sort();
        return { root, outside, before, rootBefore };
      }
      // Each leads to `outside` when followed.
      const ways = (outside: string) => ({ abs: 'abs', rel: 'rel', proc: `proc${outside}` });

      const entries: Array<[string, (b: Batch, p: string) => void]> = [
        ['file', (b, p) => b.file(`${p}/x`, meta(0o644))],
        ['dir', (b, p) => b.dir(`${p}/newdir`, meta(0o755))],
        ['symlink', (b, p) => b.symlink(`${p}/s`, '/etc/passwd', meta(0o777))],
        ['hardlink', (b, p) => b.hardlink(`${p}/h`, 'inside')],
        ['hardlink target', (b, p) => b.hardlink('h', `${p}/keep`)],
        ['char device', (b, p) => b.node(`${p}/n`, meta(0o666), 'char', 1, 3)],
        ['fifo', (b, p) => b.node(`${p}/n`, meta(0o666), 'fifo')],
        ['device whiteout', (b, p) => b.whiteout(`${p}/keep`, 'device', 'trusted')],
        ['xattr whiteout', (b, p) => b.whiteout(`${p}/keep`, 'xattr', 'trusted')],
        ['opaque', (b, p) => b.opaque(`${p}/sub`, 'trusted')],
        ['remove', (b, p) => b.remove(`${p}/keep`)],
        ['remove a tree', (b, p) => b.remove(`${p}/sub`)],
        ['clearDir', (b, p) => b.clearDir(`${p}/sub`)],
      ];

      for (const [what, add] of entries) {
        it(`${what} beneath an absolute, a ../ and a /proc/self/root symlink fails and leaves outside unchanged`, async () => {
          const { root, outside, before, rootBefore } = setup();
          for (const [via, p] of Object.entries(ways(outside))) {
            const w = open(root);
            const b = new WriteBatch();
            b.file('first', meta(0o644));
            b.endFile();
            add(b, p);
            const err = await failure(w.run(b));
            const expected = modeName === 'openat2' ? { code: 'EXDEV', syscall: 'openat2' } : { code: 'ELOOP', syscall: 'openat' };
            expect({ via, ...err }, `${what} via ${via}`).toMatchObject({ via, ...expected, step: 2 });
            expect(err.path).toEqual(what === 'hardlink target' ? 'h' : expect.stringMatching(new RegExp(`^${p}`)));
            expect(w.closed).toBe(true);
          }
          // The ../../x one escapes too (and points nowhere).
          const w = open(root);
          const b = new WriteBatch();
          add(b, 'up');
          expect(await failure(w.run(b))).toMatchObject(modeName === 'openat2' ? { code: 'EXDEV' } : { code: 'ELOOP' });
          expect(snapshot(outside)).toEqual(before);
          expect(readdirSync(root).sort()).toEqual([...rootBefore, 'first'].sort());
        });
      }

      it('the planted symlinks themselves may be replaced or removed, never followed', async () => {
        const { root, outside, before } = setup();
        const w = open(root);
        const b = new WriteBatch();
        b.clearDir('abs'); // a symlink, not a directory: nothing to clear
        b.file('abs', meta(0o644));
        b.endFile();
        b.dir('rel', meta(0o755));
        b.remove('proc');
        b.hardlink('up-link', 'up'); // links the symlink itself (linkat flags 0)
        b.whiteout('up', 'device', 'trusted');
        await w.run(b);
        await w.finish();
        expect(lstatSync(join(root, 'abs')).isFile()).toBe(true);
        expect(lstatSync(join(root, 'rel')).isDirectory()).toBe(true);
        expect(readlinkSync(join(root, 'up-link'))).toBe('../../x');
        expect(readdirSync(root).sort()).toEqual(['abs', 'inside', 'rel', 'up', 'up-link']);
        expect(snapshot(outside)).toEqual(before);
      });

      it('a directory replaced by a symlink in the same batch is never written through', async () => {
        const { root, outside, before } = setup();
        for (const replace of ['symlink over dir', 'remove then symlink'] as const) {
          const w = open(root);
          const b = new WriteBatch();
          b.dir('d', meta(0o755));
          b.file('d/a', meta(0o644)); // d's fd is now cached
          b.endFile();
          if (replace === 'symlink over dir') b.symlink('d', outside, meta(0o777));
          else {
            b.remove('d');
            b.symlink('d', outside, meta(0o777));
          }
          b.file('d/x', meta(0o644));
          b.dir('d/y', meta(0o755));
          const err = await failure(w.run(b));
          expect(err).toMatchObject({ code: modeName === 'openat2' ? 'EXDEV' : 'ELOOP', path: 'd/x', step: replace === 'symlink over dir' ? 4 : 5 });
        }
        expect(snapshot(outside)).toEqual(before);
      });

      it('a file opened for data, then its parent swapped for a symlink, still writes only inside', async () => {
        // The open fd belongs to the file inside the layer, whatever the names do afterwards.
        const { root, outside, before } = setup();
        const w = open(root);
        let b = new WriteBatch();
        b.dir('d', meta(0o755));
        b.file('d/f', meta(0o644));
        await w.run(b);
        b = new WriteBatch();
        b.data(Buffer.from('inside'));
        b.endFile();
        await w.run(b);
        await w.finish();
        expect(readFileSync(join(root, 'd/f'), 'utf8')).toBe('inside');
        expect(snapshot(outside)).toEqual(before);
      });
    });

    it('leaves no fd open after failures', async () => {
      const root = tempDir();
      const outside = tempDir('ovl-outside-');
      symlinkSync(outside, join(root, 'abs'));
      const before = openFdCount();
      for (let i = 0; i < 20; i++) {
        const w = open(root);
        const b = new WriteBatch();
        b.dir(`d${i}`, meta(0o755));
        b.file(`d${i}/f`, meta(0o644));
        b.data(Buffer.from('x'));
        b.endFile();
        b.file('abs/x', meta(0o644));
        await failure(w.run(b));
      }
      expect(openFdCount()).toBe(before);
      expect(readdirSync(outside)).toEqual([]);
    });
  });
});

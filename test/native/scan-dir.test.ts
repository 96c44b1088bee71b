// The scanDir step (native/scan_dir.cc): a directory's entries with their types, whiteouts
// (character devices 0/0) and the asked-for xattrs of subdirectories, in one step.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { S, sys } from '../../src/index.js';
import { SCAN, scannedDir } from '../../src/sys/io.js';
import { tempDir } from '../helpers/tmp.js';

const DT = { CHR: 2, DIR: 4, REG: 8, LNK: 10, WHT: 14 };

/** A character device at `path`, or false where this process may not make one (no CAP_MKNOD). */
function chr(path: string, major: number, minor: number): boolean {
  try {
    sys.mknodSync(path, S.IFCHR | 0o600, { major, minor });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EPERM') return false;
    throw e;
  }
}

function byName(result: unknown): Record<string, number> {
  const { entries } = scannedDir(result);
  return Object.fromEntries(entries.map((d) => [d.name, d.type]));
}

describe('scanDir step', () => {
  it("lists a directory's entries with their d_type, as readdir does", () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), 'x');
    mkdirSync(join(dir, 'd'));
    symlinkSync('f', join(dir, 'l'));
    const [scan, listed] = sys.runStepsSync([
      { op: 'scanDir', path: dir },
      { op: 'readdir', path: dir },
    ]).results;
    expect(byName(scan)).toEqual({ f: DT.REG, d: DT.DIR, l: DT.LNK });
    const [names, types] = listed as [string[], string];
    expect(byName([names, types, []])).toEqual(byName(scan));
  });

  it('marks character devices 0/0 as whiteouts (DT_WHT) with SCAN.WHITEOUTS only', (ctx) => {
    const dir = tempDir();
    if (!chr(join(dir, 'wh'), 0, 0)) return ctx.skip();
    chr(join(dir, 'null'), 1, 3);
    expect(byName(sys.runStepsSync([{ op: 'scanDir', path: dir, flags: SCAN.WHITEOUTS }]).results[0])).toEqual({ wh: DT.WHT, null: DT.CHR });
    expect(byName(sys.runStepsSync([{ op: 'scanDir', path: dir }]).results[0])).toEqual({ wh: DT.CHR, null: DT.CHR });
    const { entries } = scannedDir(sys.runStepsSync([{ op: 'scanDir', path: dir, flags: SCAN.WHITEOUTS }]).results[0]);
    expect(entries.find((d) => d.name === 'wh')!.isWhiteout()).toBe(true);
    expect(entries.find((d) => d.name === 'null')!.isCharacterDevice()).toBe(true);
  });

  it('reads the asked-for xattrs of subdirectories with SCAN.DIR_XATTRS, and nothing else', async () => {
    const dir = tempDir();
    for (const d of ['a', 'b', 'c']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'f'), '');
    sys.setxattrSync(join(dir, 'a'), 'user.overlay.opaque', 'y');
    sys.setxattrSync(join(dir, 'a'), 'user.other', '1');
    sys.setxattrSync(join(dir, 'b'), 'user.overlay.redirect', Buffer.from([0x2f, 0x00, 0xff]));
    sys.setxattrSync(join(dir, 'f'), 'user.overlay.opaque', 'y'); // a file's: not asked for
    const step = { op: 'scanDir', path: dir, flags: SCAN.DIR_XATTRS, xattrs: 'user.overlay.opaque,user.overlay.redirect' } as const;
    for (const result of [sys.runStepsSync([step]).results[0], (await sys.runSteps([step])).results[0]]) {
      const { entries, xattrs } = scannedDir(result);
      const of = (name: string) => xattrs.get(entries.findIndex((d) => d.name === name));
      expect(of('a')).toEqual(new Map([['user.overlay.opaque', Buffer.from('y')]]));
      expect(of('b')).toEqual(new Map([['user.overlay.redirect', Buffer.from([0x2f, 0x00, 0xff])]]));
      expect(of('c')).toBeUndefined();
      expect(of('f')).toBeUndefined();
    }
    // Without the flag, or with no names, no xattr is read.
    expect((sys.runStepsSync([{ ...step, flags: 0 }]).results[0] as unknown[])[2]).toEqual([]);
    expect((sys.runStepsSync([{ ...step, xattrs: '' }]).results[0] as unknown[])[2]).toEqual([]);
  });

  it('fails as Node does, naming scandir and the directory (thrown, or recorded)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f'), '');
    const missing = join(dir, 'missing');
    expect(() => sys.runStepsSync([{ op: 'scanDir', path: missing }])).toThrow(
      expect.objectContaining({ code: 'ENOENT', errno: -2, syscall: 'scandir', path: missing }),
    );
    await expect(sys.runSteps([{ op: 'scanDir', path: join(dir, 'f') }])).rejects.toMatchObject({ code: 'ENOTDIR', syscall: 'scandir', path: join(dir, 'f') });
    const [recorded, after] = sys.runStepsSync([
      { op: 'scanDir', path: missing, recordError: true },
      { op: 'scanDir', path: dir },
    ]).results;
    expect(recorded).toBeInstanceOf(Error);
    expect(recorded).toMatchObject({ code: 'ENOENT', syscall: 'scandir', path: missing });
    expect(byName(after)).toEqual({ f: DT.REG });
  });

  it('reads a directory larger than one getdents64 buffer', () => {
    const dir = tempDir();
    const names: string[] = [];
    for (let i = 0; i < 1500; i++) names.push(`entry-with-a-longish-name-${i}`);
    for (const n of names) writeFileSync(join(dir, n), '');
    const { entries } = scannedDir(sys.runStepsSync([{ op: 'scanDir', path: dir, flags: SCAN.WHITEOUTS | SCAN.DIR_XATTRS, xattrs: 'user.x' }]).results[0]);
    expect(entries.map((d) => d.name).sort()).toEqual(names.sort());
  });
});

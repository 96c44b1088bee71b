import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { describeWithTool } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/*
 * The independent implementation: Python's os.getxattr/os.setxattr (glibc's getxattr(2) and
 * setxattr(2), no follow): python3 is on most machines (CI installs it), unlike getfattr/setfattr
 * (Debian's `attr`); where it is not, the tests say so and skip (a failure in CI).
 */
const PY_GET = 'import os,sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False))';
const PY_SET = 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)';

function python(code: string, args: string[]): Buffer {
  const r = spawnSync('python3', ['-c', code, ...args]);
  if (r.error) throw r.error;
  expect(r.stderr.toString()).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** Python's os.getxattr: the raw value bytes. */
function pyGetxattr(path: string, name: string): Buffer {
  return python(PY_GET, [path, name]);
}

/** Python's os.setxattr. */
function pySetxattr(path: string, name: string, value: Buffer): void {
  python(PY_SET, [path, name, value.toString('hex')]);
}

// Every byte value, NULs and newlines included, in an order that is not the identity.
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) % 256));

function fixture(): { dir: string; file: string } {
  const root = tempDir();
  writeTree(root, { 'dir/': null, file: 'x' });
  return { dir: join(root, 'dir'), file: join(root, 'file') };
}

describeWithTool('python3', "xattrs interoperate with Python's os.getxattr/os.setxattr", () => {
  it('setxattrSync -> os.getxattr: trusted.overlay.opaque and a binary user.* value read back identical', () => {
    const { dir, file } = fixture();
    sys.setxattrSync(dir, 'trusted.overlay.opaque', 'y');
    sys.setxattrSync(file, 'user.blob', BINARY);
    expect(pyGetxattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(pyGetxattr(file, 'user.blob')).toEqual(BINARY);
  });

  it('setxattr (Promise) -> os.getxattr', async () => {
    const { dir, file } = fixture();
    await sys.setxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    await sys.setxattr(file, 'user.blob', new Uint8Array(BINARY));
    expect(pyGetxattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(pyGetxattr(file, 'user.blob')).toEqual(BINARY);
  });

  it('os.setxattr -> getxattrSync and getxattr (Promise) read back identical bytes', async () => {
    const { dir, file } = fixture();
    pySetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    pySetxattr(file, 'user.blob', BINARY);
    pySetxattr(file, 'trusted.overlay.redirect', Buffer.from('/some/where'));

    expect(sys.getxattrSync(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(sys.getxattrSync(file, 'user.blob')).toEqual(BINARY);
    expect(await sys.getxattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(await sys.getxattr(file, 'user.blob')).toEqual(BINARY);
    expect((await sys.getxattr(file, 'trusted.overlay.redirect')).toString()).toBe('/some/where');
    expect(sys.listxattrSync(file).sort()).toEqual(['trusted.overlay.redirect', 'user.blob']);
  });

  it('an empty value set by setxattr is present and empty for os.getxattr, and vice versa', () => {
    const { dir, file } = fixture();
    sys.setxattrSync(file, 'trusted.overlay.metacopy', Buffer.alloc(0));
    expect(pyGetxattr(file, 'trusted.overlay.metacopy').length).toBe(0);
    pySetxattr(dir, 'trusted.overlay.metacopy', Buffer.alloc(0));
    expect(sys.getxattrSync(dir, 'trusted.overlay.metacopy').length).toBe(0);
  });
});

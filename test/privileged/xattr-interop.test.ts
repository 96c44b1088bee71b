import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** `getfattr --absolute-names -n name --only-values path`: the raw value bytes. */
function getfattr(path: string, name: string): Buffer {
  const r = spawnSync('getfattr', ['--absolute-names', '-n', name, '--only-values', path]);
  if (r.error) throw r.error;
  expect(r.stderr.toString()).toBe('');
  expect(r.status).toBe(0);
  return r.stdout;
}

/** `setfattr -n name -v 0x<hex> path`. */
function setfattr(path: string, name: string, value: Buffer): void {
  const r = spawnSync('setfattr', ['-n', name, '-v', `0x${value.toString('hex')}`, path]);
  if (r.error) throw r.error;
  expect(r.stderr.toString()).toBe('');
  expect(r.status).toBe(0);
}

// Every byte value, NULs and newlines included, in an order that is not the identity.
const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) % 256));

function fixture(): { dir: string; file: string } {
  const root = tempDir();
  writeTree(root, { 'dir/': null, file: 'x' });
  return { dir: join(root, 'dir'), file: join(root, 'file') };
}

describePrivileged('xattrs interoperate with getfattr/setfattr (attr package)', () => {
  it('setxattrSync -> getfattr: trusted.overlay.opaque and a binary user.* value read back identical', () => {
    const { dir, file } = fixture();
    sys.setxattrSync(dir, 'trusted.overlay.opaque', 'y');
    sys.setxattrSync(file, 'user.blob', BINARY);
    expect(getfattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(getfattr(file, 'user.blob')).toEqual(BINARY);
  });

  it('setxattr (Promise) -> getfattr', async () => {
    const { dir, file } = fixture();
    await sys.setxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    await sys.setxattr(file, 'user.blob', new Uint8Array(BINARY));
    expect(getfattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(getfattr(file, 'user.blob')).toEqual(BINARY);
  });

  it('setfattr -v 0x... -> getxattrSync and getxattr (Promise) read back identical bytes', async () => {
    const { dir, file } = fixture();
    setfattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    setfattr(file, 'user.blob', BINARY);
    setfattr(file, 'trusted.overlay.redirect', Buffer.from('/some/where'));

    expect(sys.getxattrSync(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(sys.getxattrSync(file, 'user.blob')).toEqual(BINARY);
    expect(await sys.getxattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    expect(await sys.getxattr(file, 'user.blob')).toEqual(BINARY);
    expect((await sys.getxattr(file, 'trusted.overlay.redirect')).toString()).toBe('/some/where');
    expect(sys.listxattrSync(file).sort()).toEqual(['trusted.overlay.redirect', 'user.blob']);
  });

  it('an empty value set by setxattr is present and empty for getfattr, and vice versa', () => {
    const { dir, file } = fixture();
    sys.setxattrSync(file, 'trusted.overlay.metacopy', Buffer.alloc(0));
    expect(getfattr(file, 'trusted.overlay.metacopy').length).toBe(0);
    const r = spawnSync('setfattr', ['-n', 'trusted.overlay.metacopy', dir]);
    expect(r.status).toBe(0);
    expect(sys.getxattrSync(dir, 'trusted.overlay.metacopy').length).toBe(0);
  });
});

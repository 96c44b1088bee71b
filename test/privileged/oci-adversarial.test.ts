/**
 * applyLayer() and exportLayer() where they were broken by hand: targets that cannot be renamed
 * onto (a mount point), concurrent applies to one directory, hostile tar framing and
 * metadata. Each test names what went wrong before its fix.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { applyLayer, isOverlayError, sys, tmpfsMountSync } from '../../src/index.js';
import { encodeHeader, END_OF_ARCHIVE, padding, type TarEntryInput } from '../../src/oci/tar/write.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

function entry(name: string, data = '', extra: Partial<TarEntryInput> = {}): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: d.length, mtimeSec: 1700000000, ...extra }), d, padding(d.length)]);
}

function layer(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, END_OF_ARCHIVE]);
}

async function refusal(p: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await p;
  } catch (e) {
    return e as Error & Record<string, unknown>;
  }
  throw new Error('expected a failure');
}

function xattr(path: string, name: string): Buffer | undefined {
  try {
    return sys.getxattrSync(path, name);
  } catch {
    return undefined;
  }
}

describePrivileged('applyLayer onto a mount point', () => {
  // Before: an empty directory was filled under a temporary name beside it and renamed onto
  // it, which a mount point refuses (EBUSY; EXDEV from another mount, reported as
  // ERR_LAYER_UNSAFE): the whole layer was written to the parent's filesystem, then thrown away.
  it('an empty mount point is filled in place; a failure leaves it empty and unmarked', async () => {
    const t = tempDir();
    const mp = join(t, 'mp');
    mkdirSync(mp);
    const tmpfs = tmpfsMountSync(mp, { size: '16m' });
    try {
      const tar = join(t, 'l.tar');
      writeFileSync(tar, layer(entry('etc/os-release', 'ID=x\n'), entry('bin/sh', 'elf')));
      const wrong = `sha256:${'0'.repeat(64)}`;
      const e = await refusal(applyLayer(tar, mp, { diffId: wrong }));
      expect(isOverlayError(e, 'ERR_DIGEST_MISMATCH'), e.message).toBe(true);
      expect(readdirSync(mp)).toEqual([]);
      expect(xattr(mp, 'user.overlayfs.incomplete')).toBeUndefined();

      const r = await applyLayer(tar, mp);
      expect(r.files).toBe(2);
      expect(readFileSync(join(mp, 'etc/os-release'), 'utf8')).toBe('ID=x\n');
      expect(xattr(mp, 'user.overlayfs.incomplete')).toBeUndefined();
      // Nothing was written beside it.
      expect(readdirSync(t).sort()).toEqual(['l.tar', 'mp']);
    } finally {
      tmpfs.unmountSync();
    }
  });
});

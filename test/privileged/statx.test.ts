import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys, STATX } from '../../src/index.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { mountAt } from '../helpers/overlay.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

const UNIQUE = STATX.BASIC_STATS | STATX.MNT_ID_UNIQUE;

/** A temp dir with files a and b and a tmpfs mounted on sub/. */
function withTmpfs(): { root: string; sub: string } {
  const root = tempDir();
  writeTree(root, { a: 'a', b: 'b', 'sub/': null });
  const sub = join(root, 'sub');
  sys.mountSync('tmpfs', sub, 'tmpfs', { data: 'size=64k' });
  return { root, sub };
}

describePrivileged('statx mount ids', () => {
  it('differ across a mount boundary and are equal on one mount (sync, STATX_MNT_ID)', () => {
    const { root, sub } = withTmpfs();
    const parent = sys.statxSync(root);
    const mounted = sys.statxSync(sub);
    expect(parent.mountIdUnique).toBe(false);
    expect(mounted.mountIdUnique).toBe(false);
    expect(typeof parent.mountId).toBe('number');
    expect(mounted.mountId).not.toBe(parent.mountId);
    expect(sys.statxSync(join(root, 'a')).mountId).toBe(parent.mountId);
    expect(sys.statxSync(join(root, 'b')).mountId).toBe(parent.mountId);
    // The old-style id is the first field of /proc/self/mountinfo.
    expect(mounted.mountId).toBe(mountAt(sub)?.mountId);

    sys.umount2Sync(sub);
    expect(mountsUnder(root)).toEqual([]);
    expect(sys.statxSync(sub).mountId).toBe(parent.mountId);
  });

  itWithKernel('mountIdUnique', 'with STATX.MNT_ID_UNIQUE in the mask (Promise): mountIdUnique, same relations', async () => {
    const { root, sub } = withTmpfs();
    const [parent, mounted, a, b, oldStyle] = await Promise.all([
      sys.statx(root, { mask: UNIQUE }),
      sys.statx(sub, { mask: UNIQUE }),
      sys.statx(join(root, 'a'), { mask: UNIQUE }),
      sys.statx(join(root, 'b'), { mask: UNIQUE }),
      sys.statx(sub),
    ]);
    expect(parent.mountIdUnique).toBe(true);
    expect(mounted.mountIdUnique).toBe(true);
    // The kernel fills one id or the other, and says which in stx_mask.
    expect(parent.mask & STATX.MNT_ID_UNIQUE).toBe(STATX.MNT_ID_UNIQUE);
    expect(parent.mask & STATX.MNT_ID).toBe(0);
    expect(oldStyle.mask & (STATX.MNT_ID | STATX.MNT_ID_UNIQUE)).toBe(STATX.MNT_ID);
    expect(mounted.mountId).not.toBe(parent.mountId);
    expect(a.mountId).toBe(parent.mountId);
    expect(b.mountId).toBe(parent.mountId);
    // The 64-bit ids are a different number space from the reusable 32-bit ones.
    expect(mounted.mountId).not.toBe(oldStyle.mountId);

    await sys.umount2(sub);
    expect(mountsUnder(root)).toEqual([]);
  });

  itWithKernel('mountIdUnique', 'runSteps statx steps report the same ids', () => {
    const { root, sub } = withTmpfs();
    const r = sys.runStepsSync([
      { op: 'statx', path: root, mask: STATX.BASIC_STATS | STATX.MNT_ID },
      { op: 'statx', path: sub, mask: STATX.BASIC_STATS | STATX.MNT_ID },
      { op: 'statx', path: sub, mask: UNIQUE },
    ]);
    const [p, m, u] = r.results as Array<{ mountId?: number; mountIdUnique?: boolean }>;
    expect(p?.mountId).toBe(sys.statxSync(root).mountId);
    expect(m?.mountId).toBe(sys.statxSync(sub).mountId);
    expect(m?.mountIdUnique).toBe(false);
    expect(u?.mountId).toBe(sys.statxSync(sub, { mask: UNIQUE }).mountId);
    expect(u?.mountIdUnique).toBe(true);
    sys.umount2Sync(sub);
    expect(mountsUnder(root)).toEqual([]);
  });
});

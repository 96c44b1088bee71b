/**
 * The round trip: every kind of change made through a mount (redirect_dir=on, metacopy=on),
 * exported, applied (as a new layer over the same lowers, and flattened onto a copy of the
 * lowers), mounted: the same merged view as the original mount.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { applyLayer, exportLayer, sys } from '../../src/index.js';
import { changedUpper, OPTIONS } from '../helpers/changed-upper.js';
import { walkView, withMount, type Seen } from '../helpers/merged.js';
import { collect } from '../helpers/oci.js';
import { describePrivileged } from '../helpers/privileged.js';

/** What must survive the round trip: type, mode, owner, content, and the user xattrs. */
function view(root: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [p, s] of walkView(root) as Map<string, Seen>) {
    const xattrs = s.type === 'symlink' ? [] : sys.listxattrSync(join(root, p)).filter((n) => n.startsWith('user.') && !n.startsWith('user.overlay.'));
    out.set(p, [s.type, s.mode, s.uid, s.gid, s.content, ...xattrs.map((n) => `${n}=${sys.getxattrSync(join(root, p), n).toString()}`)]);
  }
  return out;
}

describePrivileged('export, apply, mount: the same merged view', () => {
  it('as a new layer over the lowers, and flattened onto a copy of them', async () => {
    const f = changedUpper();
    const merged = join(f.root, 'merged');
    const want = withMount({ lower: f.lowers, upper: f.upper, work: join(f.root, 'work'), target: merged, options: OPTIONS }, () => view(merged));
    const tar = join(f.root, 'diff.tar');
    const exported = exportLayer(f.upper, f.lowers);
    writeFileSync(tar, await collect(exported.stream));
    const { diffId } = await exported.result;

    const applied = await applyLayer(tar, join(f.root, 'diff'), { diffId });
    expect(applied.whiteouts).toBeGreaterThan(0);
    expect(applied.opaques).toBeGreaterThan(0);
    const asLayer = withMount({ lower: [join(f.root, 'diff'), ...f.lowers], target: merged }, () => view(merged));
    expect(Object.fromEntries(asLayer)).toEqual(Object.fromEntries(want));

    // The lowers flattened into one root (bottom first, as an image unpacks), then the change.
    const rootfs = join(f.root, 'rootfs');
    mkdirSync(rootfs);
    for (const lower of [...f.lowers].reverse()) {
      const r = spawnSync('cp', ['-a', `${lower}/.`, rootfs]);
      expect(r.status, r.stderr?.toString()).toBe(0);
    }
    await applyLayer(tar, rootfs, { flatten: true, diffId });
    expect(Object.fromEntries(view(rootfs))).toEqual(Object.fromEntries(want));
  });
});

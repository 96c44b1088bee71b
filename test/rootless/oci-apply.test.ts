/**
 * The rootless subset of layer apply: fixtures/layer-apply.mjs applies layers under `unshare
 * -Urm` (root of a user namespace mapping one id: no chown to other ids, no trusted.* xattrs),
 * with user.overlay.* markers, and mounts them with userxattr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pythonTar } from '../helpers/tars.js';
import { tempDir } from '../helpers/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'layer-apply.mjs');
const dist = join(here, '..', '..', 'dist', 'index.js');

function skipReason(): string | null {
  const r = spawnSync('unshare', ['-Urm', 'true'], { encoding: 'utf8' });
  if (r.error) return `unshare(1) cannot run: ${r.error.message}`;
  if (r.status !== 0) return `unshare -Urm fails (unprivileged user namespaces disabled?): ${r.stderr.trim()}`;
  if (spawnSync('python3', ['--version']).status !== 0) return 'python3 is not installed (it makes the layers)';
  return null;
}
const reason = skipReason();
const describeRootless = reason === null ? describe : (name: string, fn: () => void) => describe.skip(`${name} [skipped: ${reason}]`, fn);

describeRootless('rootless: applyLayer under unshare -Urm', () => {
  it('applies with user.overlay markers and device whiteouts, mounts with userxattr; trusted markers are refused cleanly', () => {
    expect(existsSync(dist), `${dist} is missing: npm test builds it`).toBe(true);
    const root = tempDir();
    const base = pythonTar(join(root, 'base.tar'), [
      { name: 'etc/hosts', data: 'base hosts' },
      { name: 'etc/owned', data: 'owned by 1000 in the layer', uid: 1000, gid: 1000 },
      { name: 'gone', data: 'base' },
      { name: 'opq/old', data: 'old' },
    ]);
    const top = pythonTar(join(root, 'top.tar'), [
      { name: '.wh.gone', data: '' },
      { name: 'opq/', type: 'dir' },
      { name: 'opq/.wh..wh..opq', data: '' },
      { name: 'opq/new', data: 'new' },
    ]);
    const run = spawnSync('unshare', ['-Urm', process.execPath, fixture, JSON.stringify({ root, base, top })], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const r = JSON.parse(run.stdout);
    expect(r.error).toBeUndefined();
    // One id mapped: the layer's owners are not kept (files belong to the namespace's root).
    expect(r.owner).toBe(0);
    expect(r.whiteout).toEqual({ chr: true, rdev: 0 });
    expect(r.opaque).toEqual({ user: 'y', trusted: 'ENODATA' });
    expect(r.xattrWhiteout).toBe(true);
    expect(r.merged).toEqual({ root: ['etc', 'opq'], opq: ['new'], hosts: 'base hosts' });
    expect(r.trusted.code).toBe('EPERM');
    expect(r.trusted.left).toBe(false);
  });
});

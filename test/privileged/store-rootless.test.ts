/**
 * The store rootless: a non-root user (uid 12345, with no capability outside its own user
 * namespace) runs `unshare -Urm` and uses the library there: import, create, mount, write, diff,
 * commit, remove; its store under $XDG_DATA_HOME; and what rootless cannot do refused with the
 * kernel's errno and words that say why. The user's process cannot read this checkout (it may be
 * under /root), so the package's runtime files are copied into a temp dir it can read.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { describeWithTool } from '../helpers/privileged.js';
import { tempDir } from '../helpers/tmp.js';

const USER = 12345;

/** The package's runtime (dist, the addon, its two runtime loaders) where USER can read it. */
function packageCopy(root: string): string {
  const pkg = join(root, 'pkg');
  for (const p of ['package.json', 'dist', 'prebuilds', 'build/Release/overlayfs.node', 'node_modules/node-gyp-build', 'node_modules/fzstd']) {
    if (existsSync(join(REPO, p))) cpSync(join(REPO, p), join(pkg, p), { recursive: true });
  }
  return pkg;
}

/** Runs `script` (an ES module; PKG is the package copy) as USER in a user namespace of its own; its stdout lines as JSON. */
function rootless(root: string, pkg: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const file = join(root, 'script.mjs');
  writeFileSync(file, `const lib = await import(${JSON.stringify(join(pkg, 'dist/index.js'))});\n${script}`);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(root, 'home') };
  return spawnSync('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', 'unshare', '-Urm', process.execPath, file], { cwd: join(root, 'home'), env, encoding: 'utf8', timeout: 60_000 });
}

describeWithTool('setpriv', 'a rootless store (a non-root user in unshare -Urm)', () => {
  it('imports an image with a whiteout, creates, mounts, writes, diffs, commits and removes a container, in $HOME/.local/share/ovl', () => {
    const root = tempDir('ovl-rootless-');
    chmodSync(root, 0o755);
    const pkg = packageCopy(root);
    mkdirSync(join(root, 'home'));
    chownSync(join(root, 'home'), USER, USER);
    // An image of two layers: the top one deletes a file of the base (a whiteout to apply).
    const layer = (name: string, files: Record<string, string>) => {
      const dir = join(root, 'trees', name);
      for (const [p, c] of Object.entries(files)) {
        mkdirSync(join(dir, p, '..'), { recursive: true });
        writeFileSync(join(dir, p), c);
      }
      return execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--format=pax', '-C', dir, '-cf', '-', '.']);
    };
    writeFileSync(join(root, 'base.tar'), layer('base', { 'etc/os-release': 'ID=base\n', 'usr/share/doc/readme': 'doc\n' }));
    writeFileSync(join(root, 'top.tar'), layer('top', { 'usr/share/doc/.wh.readme': '', 'app/run': 'run\n' }));
    // A layer with a file of uid 1000, which a namespace with one uid cannot own.
    const owned = join(root, 'trees', 'owned');
    mkdirSync(owned, { recursive: true });
    writeFileSync(join(owned, 'user-file'), 'u\n');
    chownSync(join(owned, 'user-file'), 1000, 1000);
    writeFileSync(join(root, 'owned.tar'), execFileSync('tar', ['--sort=name', '--numeric-owner', '--mtime=@0', '--format=pax', '-C', owned, '-cf', '-', '.']));
    const r = rootless(
      root,
      pkg,
      `
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
const { writeOciLayout } = await import(${JSON.stringify(join(pkg, 'dist/oci/image/write.js'))});
const say = (k, v) => console.log(JSON.stringify([k, v]));
say('uid', process.getuid());
await writeOciLayout('layout', { ref: 'img', layers: [{ data: readFileSync('../base.tar') }, { data: readFileSync('../top.tar') }] });
const store = await lib.openStore();
say('root', store.root);
const [img] = await store.importImage('layout', { ref: 'img', tag: 'img' });
say('layers', img.layers.length);
await store.createContainer('img', { name: 'c' });
const m = await store.mountContainer('c');
say('strategy', m.strategy);
say('readme', existsSync(m.merged + '/usr/share/doc/readme'));
say('os', readFileSync(m.merged + '/etc/os-release', 'utf8'));
writeFileSync(m.merged + '/new', 'x');
rmSync(m.merged + '/app/run');
say('diff', (await store.diff('c')).map((x) => x.kind + ' ' + x.path));
await store.unmountContainer('c');
const committed = await store.commit('c', { ref: 'img2' });
say('committed', committed.id.startsWith('sha256:'));
await store.removeContainer('c');
say('containers', (await store.containers()).length);
// What rootless cannot do: give a file an owner this namespace does not have (applied as tar
// applies as non-root: every file the namespace root's) ...
await writeOciLayout('layout2', { ref: 'owned', layers: [{ data: readFileSync('../owned.tar') }] });
await store.importImage('layout2', { ref: 'owned', tag: 'owned' });
await store.createContainer('owned', { name: 'o' });
const { statSync } = await import('node:fs');
say('owned uid', statSync((await store.mountContainer('o')).merged + '/user-file').uid);
await store.unmountContainer('o');
await store.removeContainer('o');
// ... or map the ids of one.
try {
  await store.createContainer('img', { name: 'mapped', userns: { uid: [{ inside: 0, outside: 100000, count: 65536 }], gid: [{ inside: 0, outside: 100000, count: 65536 }] } });
  const mm = await store.mountContainer('mapped');
  say('mapped', mm.merged);
} catch (e) {
  say('mapped error', { code: e.code, problems: e.problems });
}
`,
    );
    expect(r.status, r.stderr).toBe(0);
    const said = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as [string, unknown]));
    expect(said).toMatchObject({
      uid: 0,
      root: join(root, 'home', '.local', 'share', 'ovl'),
      layers: 2,
      strategy: 'fd',
      readme: false,
      os: 'ID=base\n',
      diff: ['C /app', 'D /app/run', 'A /new'],
      committed: true,
      containers: 0,
    });
    expect(said['owned uid']).toBe(0);
    // The store is the user's, on disk.
    expect(existsSync(join(root, 'home', '.local', 'share', 'ovl'))).toBe(true);
    // What rootless cannot do is refused before anything is made, saying why.
    expect(said['mapped error']).toEqual({
      code: 'ERR_OVERLAY_SPEC',
      problems: [
        {
          field: 'userns.uid[0]',
          problem:
            'maps to uids 100000…165535, which this user namespace does not have (it has 0): a rootless store maps only ids it was given (start it with subordinate ids, e.g. podman unshare or unshare --map-auto)',
        },
        {
          field: 'userns.gid[0]',
          problem:
            'maps to gids 100000…165535, which this user namespace does not have (it has 0): a rootless store maps only ids it was given (start it with subordinate ids, e.g. podman unshare or unshare --map-auto)',
        },
      ],
    });
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { AT, FSCONFIG, MOUNT_ATTR, MOVE_MOUNT, OPEN_TREE, findOverlaySync, sys } from '../../src/index.js';
import { describePrivileged, itWithKernel } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A user namespace mapping uid/gid 0..65535 to 100000..165535, as an fd of /proc/PID/ns/user. */
async function userns(): Promise<ReturnType<typeof sys.adoptFd>> {
  const child = spawn('unshare', ['--user', 'sleep', '60'], { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  // Wait until the child is inside its new namespace (unshare execs sleep after unsharing).
  for (let i = 0; i < 500 && readlinkSync(`/proc/${pid}/ns/user`) === readlinkSync('/proc/self/ns/user'); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  writeFileSync(`/proc/${pid}/setgroups`, 'deny');
  writeFileSync(`/proc/${pid}/uid_map`, '0 100000 65536');
  writeFileSync(`/proc/${pid}/gid_map`, '0 100000 65536');
  return sys.openSync(`/proc/${pid}/ns/user`, 0);
}

describePrivileged('idmapped layers, layers by fd, and reconfigure', () => {
  it('open_tree(CLONE) + mount_setattr(IDMAP) shows files owned 0/1000 as 100000/101000', async () => {
    const root = tempDir();
    writeTree(root, { 'src/a': 'a', 'src/b': 'b', 'm/': null });
    chownSync(join(root, 'src/b'), 1000, 1000);
    using ns = await userns();
    const r = await sys.runSteps([
      { op: 'openTree', path: join(root, 'src'), flags: OPEN_TREE.CLONE },
      { op: 'mountSetattr', dirfd: 0, path: '', flags: AT.EMPTY_PATH, attrSet: MOUNT_ATTR.IDMAP, userns: ns },
      { op: 'moveMount', from: 0, fromPath: '', toPath: join(root, 'm'), flags: MOVE_MOUNT.F_EMPTY_PATH },
    ]);
    expect(r.kernelMessages).toEqual([]);
    try {
      expect([lstatSync(join(root, 'm/a')).uid, lstatSync(join(root, 'm/a')).gid]).toEqual([100000, 100000]);
      expect([lstatSync(join(root, 'm/b')).uid, lstatSync(join(root, 'm/b')).gid]).toEqual([101000, 101000]);
      // On disk nothing changed.
      expect(lstatSync(join(root, 'src/b')).uid).toBe(1000);
    } finally {
      sys.umount2Sync(join(root, 'm'));
    }
  });

  itWithKernel(['layersByFd', 'createExcl'], 'a detached idmapped clone is an overlay lower layer by fd (FSCONFIG_SET_FD), never attached anywhere', async () => {
    const root = tempDir();
    writeTree(root, { 'low/f': 'low', 'top/g': 'top', 'm/': null });
    chownSync(join(root, 'low/f'), 1000, 1000);
    using ns = await userns();
    const r = sys.runStepsSync([
      { op: 'openTree', path: join(root, 'low'), flags: OPEN_TREE.CLONE },
      { op: 'mountSetattr', dirfd: 0, path: '', flags: AT.EMPTY_PATH, attrSet: MOUNT_ATTR.IDMAP, userns: ns },
      { op: 'fsopen', fsname: 'overlay' },
      { op: 'fsconfigSetString', fs: 2, key: 'lowerdir+', value: join(root, 'top') },
      { op: 'fsconfigSetFd', fs: 2, key: 'lowerdir+', fd: 0 },
      { op: 'fsconfigCreateExcl', fs: 2 },
      { op: 'fsmount', fs: 2 },
      { op: 'moveMount', from: 6, fromPath: '', toPath: join(root, 'm'), flags: MOVE_MOUNT.F_EMPTY_PATH },
    ]);
    expect(r.kernelMessages).toEqual([]);
    try {
      expect(readFileSync(join(root, 'm/f'), 'utf8')).toBe('low');
      expect(readFileSync(join(root, 'm/g'), 'utf8')).toBe('top');
      expect(lstatSync(join(root, 'm/f')).uid).toBe(101000);
      // The kernel cannot name a detached clone: mountinfo shows a path inside the clone ('/'),
      // which is why a mount's own handle must remember what it was given.
      const info = findOverlaySync(join(root, 'm'))!;
      expect(info.lower[0]).toBe(join(root, 'top'));
      expect(info.lower[1]).toBe('/');
      expect(info.pathsKnown).toBe(false);
    } finally {
      sys.umount2Sync(join(root, 'm'));
    }
  });

  it('fspick + fsconfig + FSCONFIG_CMD_RECONFIGURE changes a mounted tmpfs', async () => {
    const root = tempDir();
    writeTree(root, { 't/': null });
    sys.mountSync('tmpfs', join(root, 't'), 'tmpfs', { data: 'size=1m' });
    try {
      using fs = await sys.fspick(join(root, 't'));
      await sys.fsconfigSetString(fs, 'size', '2m');
      await sys.fsconfigReconfigure(fs);
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === join(root, 't'))!;
      expect(line).toMatch(/size=2048k/);
    } finally {
      sys.umount2Sync(join(root, 't'));
    }
  });

  itWithKernel('fsContextParser', 'fspick + fsconfig on a mounted overlay: any option change is refused', () => {
    const root = tempDir();
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'm/': null });
    sys.mountSync('overlay', join(root, 'm'), 'overlay', { data: `lowerdir=${join(root, 'a')}:${join(root, 'b')}` });
    try {
      using fs = sys.fspickSync(join(root, 'm'));
      let err: (Error & { kernelMessages?: string[] }) | undefined;
      try {
        sys.fsconfigSetStringSync(fs, 'redirect_dir', 'on');
      } catch (e) {
        err = e as Error & { kernelMessages?: string[] };
      }
      expect(err?.kernelMessages).toContain('e overlay: No changes allowed in reconfigure');
    } finally {
      sys.umount2Sync(join(root, 'm'));
    }
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys, MOVE_MOUNT } from '../../src/index.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

describePrivileged('smoke', () => {
  it('mounts an overlay with lowerdir+ in one batch', () => {
    const d = tempDir();
    writeTree(join(d, 'l1'), { 'a.txt': 'top' });
    writeTree(join(d, 'l2'), { 'a.txt': 'bottom', 'b.txt': 'b' });
    writeTree(d, { 'u/': null, 'w/': null, 'm/': null });
    const r = sys.runStepsSync([
      { op: 'fsopen', fsname: 'overlay' },
      { op: 'fsconfig', fs: 0, cmd: 1, key: 'lowerdir+', value: join(d, 'l1') },
      { op: 'fsconfig', fs: 0, cmd: 1, key: 'lowerdir+', value: join(d, 'l2') },
      { op: 'fsconfig', fs: 0, cmd: 1, key: 'upperdir', value: join(d, 'u') },
      { op: 'fsconfig', fs: 0, cmd: 1, key: 'workdir', value: join(d, 'w') },
      { op: 'fsconfig', fs: 0, cmd: 8 },
      { op: 'fsmount', fs: 0 },
      { op: 'move_mount', from: 6, fromPath: '', toPath: join(d, 'm'), flags: MOVE_MOUNT.F_EMPTY_PATH },
    ]);
    expect(r.kernelMessages).toEqual([]);
    expect(readFileSync(join(d, 'm/a.txt'), 'utf8')).toBe('top');
    expect(existsSync(join(d, 'm/b.txt'))).toBe(true);
    sys.umount2Sync(join(d, 'm'));
  });
});

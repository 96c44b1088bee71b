/**
 * An upper with every kind of change, made THROUGH a real overlay mount (redirect_dir=on,
 * metacopy=on) over two lowers: for the export and round-trip tests.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sys, type OverlayOptions } from '../../src/index.js';
import { withMount } from './merged.js';
import { tempDir, writeTree } from './tmp.js';

/** 10 MiB, more than a read batch: read in chunks, and the metacopy file of the test. */
export const BIG = Buffer.alloc(10 << 20);
for (let i = 0; i < BIG.length; i += 4096) BIG.writeUInt32LE(i, i);

export const L1 = {
  'etc/app/config.json': '{"from":"l1"}\n',
  'shared.txt': 'from l1',
};
export const L2 = {
  'etc/os-release': 'ID=example\n',
  'etc/app/config.json': '{"from":"l2"}\n',
  'low.txt': 'low original',
  'doomed.txt': 'doomed',
  'data/a.txt': 'a',
  'data/sub/b.txt': 'b',
  'dirfile/x': 'x',
  'opq/gone.txt': 'gone',
  'opq/keep/k.txt': 'k',
  'old/x.txt': 'x',
  'old/deep/y.txt': 'y',
  'shared.txt': 'from l2',
};

export const OPTIONS: OverlayOptions = { redirectDir: 'on', metacopy: 'on', index: 'off' };

export interface Fixture {
  root: string;
  lowers: string[];
  upper: string;
}

/** Two lowers, then every kind of change through the mount; unmounted on return. */
export function changedUpper(): Fixture {
  const root = tempDir('ovl-export-');
  const l1 = writeTree(join(root, 'l1'), L1);
  const l2 = writeTree(join(root, 'l2'), L2);
  writeFileSync(join(l2, 'big.bin'), BIG);
  const upper = join(root, 'upper');
  const target = join(root, 'merged');
  writeTree(root, { 'upper/': null, 'work/': null, 'merged/': null });
  withMount({ lower: [l1, l2], upper, work: join(root, 'work'), target, options: OPTIONS }, () => {
    const m = (p: string) => join(target, p);
    writeFileSync(m('etc/new.conf'), 'new');
    appendFileSync(m('low.txt'), ' + more');
    rmSync(m('doomed.txt'));
    rmSync(m('data'), { recursive: true });
    rmSync(m('dirfile'), { recursive: true });
    writeFileSync(m('dirfile'), 'now a file');
    rmSync(m('opq'), { recursive: true });
    mkdirSync(m('opq'));
    writeFileSync(m('opq/fresh.txt'), 'fresh');
    renameSync(m('old'), m('new'));
    writeFileSync(m('new/added.txt'), 'added after the rename');
    chmodSync(m('etc/os-release'), 0o600);
    sys.setxattrSync(m('shared.txt'), 'user.x', Buffer.from('value x'));
    writeFileSync(m('hl-a'), 'linked');
    linkSync(m('hl-a'), m('hl-b'));
    symlinkSync('../etc/os-release', m('etc/link'));
    const r = spawnSync('mkfifo', [m('pipe')]);
    if (r.status !== 0) throw new Error(`mkfifo: ${r.stderr}`);
    chmodSync(m('big.bin'), 0o640);
  });
  return { root, lowers: [join(root, 'l1'), join(root, 'l2')], upper };
}


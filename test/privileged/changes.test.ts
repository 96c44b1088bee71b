/**
 * changes() against the kernel: each scenario changes a merged view THROUGH a real mount,
 * unmounts, and compares changesSync() of the upper with the expected A/C/D list and with a
 * brute-force diff of the merged view walked before and after.
 */
import { appendFileSync, chmodSync, chownSync, linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { changes, changesSync, createWhiteoutSync, formatChange, tmpfsMountSync, type Change, type ChangesOptions, type OverlayOptions } from '../../src/index.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { bruteForceChanges, walkView, withMount } from '../helpers/merged.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const BOTTOM = {
  'etc/os-release': 'ID=example\n',
  'etc/app/config.json': '{"from":"bottom"}\n',
  'bin/sh': '#!/bin/true\n',
  'data/a.txt': 'a',
  'data/sub/b.txt': 'b',
  'old/x.txt': 'x',
  'old/deep/y.txt': 'y',
  'var/log/syslog': 'log\n',
};
const TOP = {
  'etc/app/config.json': '{"from":"top"}\n',
  'app/server.py': 'print("serving")\n',
};

interface Scenario {
  name: string;
  options?: OverlayOptions;
  /** Runs on the merged view (the mount point). */
  ops: (m: string) => void;
  /** `docker diff` lines, in the order changes() yields them. */
  expected: string[];
  /** Causes to check, by line. */
  causes?: Record<string, Change['cause']>;
}

const REDIRECT: OverlayOptions = { redirectDir: 'on' };
const METACOPY: OverlayOptions = { metacopy: 'on' };

const SCENARIOS: Scenario[] = [
  {
    name: 'add a file',
    ops: (m) => writeFileSync(join(m, 'etc/new.conf'), 'new'),
    expected: ['C /etc', 'A /etc/new.conf'],
  },
  {
    name: 'add a dir tree',
    ops: (m) => {
      mkdirSync(join(m, 'srv/www/static'), { recursive: true });
      writeFileSync(join(m, 'srv/www/index.html'), '<html>');
      writeFileSync(join(m, 'srv/www/static/a.css'), 'body{}');
    },
    expected: ['A /srv', 'A /srv/www', 'A /srv/www/index.html', 'A /srv/www/static', 'A /srv/www/static/a.css'],
  },
  {
    name: 'delete a file',
    ops: (m) => rmSync(join(m, 'etc/os-release')),
    expected: ['C /etc', 'D /etc/os-release'],
    causes: { 'D /etc/os-release': 'whiteout' },
  },
  {
    name: 'delete a file that shadows one below (both hidden)',
    ops: (m) => rmSync(join(m, 'etc/app/config.json')),
    expected: ['C /etc', 'C /etc/app', 'D /etc/app/config.json'],
  },
  {
    name: 'delete a dir: one D, nothing below it',
    ops: (m) => rmSync(join(m, 'data'), { recursive: true }),
    expected: ['D /data'],
    causes: { 'D /data': 'whiteout' },
  },
  {
    name: 'replace a dir (rm -r + mkdir: opaque)',
    ops: (m) => {
      rmSync(join(m, 'data'), { recursive: true });
      mkdirSync(join(m, 'data'));
      writeFileSync(join(m, 'data/new.txt'), 'new');
    },
    expected: ['C /data', 'D /data/a.txt', 'A /data/new.txt', 'D /data/sub'],
    causes: { 'D /data/a.txt': 'opaque', 'D /data/sub': 'opaque' },
  },
  {
    name: 'replace a dir by a file: one C, the content below is implied',
    ops: (m) => {
      rmSync(join(m, 'data'), { recursive: true });
      writeFileSync(join(m, 'data'), 'now a file');
    },
    expected: ['C /data'],
  },
  {
    name: 'replace a file by a dir',
    ops: (m) => {
      rmSync(join(m, 'bin/sh'));
      mkdirSync(join(m, 'bin/sh'));
      writeFileSync(join(m, 'bin/sh/inside'), 'in');
    },
    expected: ['C /bin', 'C /bin/sh', 'A /bin/sh/inside'],
  },
  {
    name: 'rename a dir in place (redirect_dir=on: relative redirect)',
    options: REDIRECT,
    ops: (m) => renameSync(join(m, 'old'), join(m, 'new')),
    expected: ['A /new', 'A /new/deep', 'A /new/deep/y.txt', 'A /new/x.txt', 'D /old'],
    causes: { 'A /new/x.txt': 'redirect', 'A /new/deep': 'redirect', 'D /old': 'whiteout' },
  },
  {
    name: 'move a dir to another parent (redirect_dir=on: absolute redirect)',
    options: REDIRECT,
    ops: (m) => renameSync(join(m, 'old/deep'), join(m, 'var/deep')),
    expected: ['C /old', 'D /old/deep', 'C /var', 'A /var/deep', 'A /var/deep/y.txt'],
  },
  {
    name: 'rename a file',
    ops: (m) => renameSync(join(m, 'bin/sh'), join(m, 'bin/bash')),
    expected: ['C /bin', 'A /bin/bash', 'D /bin/sh'],
  },
  {
    name: 'chmod (full copy-up)',
    ops: (m) => chmodSync(join(m, 'bin/sh'), 0o700),
    expected: ['C /bin', 'C /bin/sh'],
  },
  {
    name: 'chmod with metacopy=on (metadata-only copy-up)',
    options: METACOPY,
    ops: (m) => chmodSync(join(m, 'bin/sh'), 0o700),
    expected: ['C /bin', 'C /bin/sh'],
    causes: { 'C /bin/sh': 'metacopy' },
  },
  {
    name: 'chown with metacopy=on',
    options: METACOPY,
    ops: (m) => chownSync(join(m, 'var/log/syslog'), 1234, 5678),
    expected: ['C /var', 'C /var/log', 'C /var/log/syslog'],
    causes: { 'C /var/log/syslog': 'metacopy' },
  },
  {
    name: 'append to a file of the top lower layer',
    ops: (m) => appendFileSync(join(m, 'etc/app/config.json'), '// more\n'),
    expected: ['C /etc', 'C /etc/app', 'C /etc/app/config.json'],
  },
  {
    name: 'hard link with metacopy=on',
    options: METACOPY,
    ops: (m) => linkSync(join(m, 'data/a.txt'), join(m, 'data/a-link.txt')),
    expected: ['C /data', 'A /data/a-link.txt', 'C /data/a.txt'],
    causes: { 'C /data/a.txt': 'metacopy' },
  },
  {
    name: 'delete then recreate a file',
    ops: (m) => {
      rmSync(join(m, 'etc/os-release'));
      writeFileSync(join(m, 'etc/os-release'), 'ID=again\n');
    },
    expected: ['C /etc', 'C /etc/os-release'],
  },
  {
    name: 'delete then recreate a dir (mkdir over a whiteout: opaque)',
    options: REDIRECT,
    ops: (m) => {
      rmSync(join(m, 'old'), { recursive: true });
      mkdirSync(join(m, 'old'));
    },
    expected: ['C /old', 'D /old/deep', 'D /old/x.txt'],
  },
];

interface Run {
  upper: string;
  lowers: string[];
  ours: Change[];
  brute: string[];
}

/** Makes the two lower layers, mounts, walks, runs `ops`, walks again, unmounts, reads the upper. */
function runThroughMount(ops: (m: string) => void, options: OverlayOptions = {}, read: ChangesOptions = {}): Run {
  const root = tempDir();
  const bottom = writeTree(join(root, 'bottom'), BOTTOM);
  const top = writeTree(join(root, 'top'), TOP);
  const upper = writeTree(join(root, 'upper'), {});
  const target = writeTree(join(root, 'm'), {});
  const lowers = [top, bottom];
  const { before, after } = withMount({ lower: lowers, upper, work: join(root, 'work'), target, options }, () => {
    const before = walkView(target);
    ops(target);
    return { before, after: walkView(target) };
  });
  expectUnmounted(target);
  return { upper, lowers, ours: changesSync(upper, lowers, read), brute: bruteForceChanges(before, after) };
}

/**
 * Our list agrees with the brute-force one: the same A and D lines, every brute-force C, and
 * extra C lines only for parents of a change or entries copied up unchanged (in the upper,
 * identical before and after: a hard link's metacopy copy-up).
 */
function expectAgreement(run: Run): void {
  const lines = run.ours.map(formatChange);
  expect(new Set(run.ours.map((c) => c.path)).size, 'one line per path').toBe(run.ours.length);
  const of = (list: string[], k: string) => list.filter((l) => l.startsWith(k)).sort();
  expect(of(lines, 'A ')).toEqual(of(run.brute, 'A '));
  expect(of(lines, 'D ')).toEqual(of(run.brute, 'D '));
  const bruteC = new Set(of(run.brute, 'C '));
  for (const c of bruteC) expect(lines).toContain(c);
  const changed = run.brute.map((l) => l.slice(2));
  for (const extra of of(lines, 'C ').filter((l) => !bruteC.has(l))) {
    const path = extra.slice(2);
    const parentOfChange = changed.some((p) => p.startsWith(path + '/'));
    const copiedUp = run.ours.find((c) => c.path === path)?.cause === 'metacopy' || walkView(run.upper).has(path);
    expect(parentOfChange || copiedUp, `extra '${extra}': neither a parent of a change nor a copy-up`).toBe(true);
  }
}

describePrivileged('changes(): a scenario table, done through a real mount', () => {
  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const run = runThroughMount(s.ops, s.options);
      expect(run.ours.map(formatChange)).toEqual(s.expected);
      for (const [line, cause] of Object.entries(s.causes ?? {})) {
        expect(run.ours.find((c) => formatChange(c) === line)?.cause, line).toBe(cause);
      }
      expectAgreement(run);
      // The async iterator streams the same list.
      const streamed: Change[] = [];
      for await (const c of changes(run.upper, run.lowers)) streamed.push(c);
      expect(streamed).toEqual(run.ours);
    });
  }

  it('all of them at once (redirect_dir=on, metacopy=on): agrees with the brute-force diff', () => {
    const run = runThroughMount(
      (m) => {
        writeFileSync(join(m, 'etc/new.conf'), 'new');
        mkdirSync(join(m, 'srv/www'), { recursive: true });
        writeFileSync(join(m, 'srv/www/index.html'), '<html>');
        rmSync(join(m, 'etc/os-release'));
        rmSync(join(m, 'data/sub'), { recursive: true });
        mkdirSync(join(m, 'data/sub'));
        writeFileSync(join(m, 'data/sub/c.txt'), 'c');
        renameSync(join(m, 'old'), join(m, 'new'));
        renameSync(join(m, 'new/deep'), join(m, 'var/deep'));
        chmodSync(join(m, 'bin/sh'), 0o700);
        appendFileSync(join(m, 'etc/app/config.json'), '// more\n');
        linkSync(join(m, 'data/a.txt'), join(m, 'app/a-link.txt'));
        writeFileSync(join(m, 'var/log/syslog'), 'rotated\n');
      },
      { redirectDir: 'on', metacopy: 'on' },
    );
    expect(run.brute.length).toBeGreaterThan(15);
    expectAgreement(run);
  });
});

describePrivileged('changes(): renames inside renamed dirs (redirect_dir=on) agree with the brute-force diff', () => {
  const CASES: Array<[string, (m: string) => void]> = [
    [
      'rename, then delete and rename inside',
      (m) => {
        renameSync(join(m, 'old'), join(m, 'new'));
        rmSync(join(m, 'new/x.txt'));
        renameSync(join(m, 'new/deep'), join(m, 'new/deeper'));
        writeFileSync(join(m, 'new/deeper/z.txt'), 'z');
      },
    ],
    [
      'into a new dir, then change inside',
      (m) => {
        mkdirSync(join(m, 'fresh'));
        renameSync(join(m, 'data'), join(m, 'fresh/data'));
        appendFileSync(join(m, 'fresh/data/a.txt'), 'more');
        rmSync(join(m, 'fresh/data/sub'), { recursive: true });
      },
    ],
    [
      'a dir merged from two layers, moved and moved back',
      (m) => {
        renameSync(join(m, 'etc/app'), join(m, 'app/etcapp'));
        renameSync(join(m, 'app/etcapp'), join(m, 'etc/app2'));
        renameSync(join(m, 'etc/app2'), join(m, 'etc/app'));
      },
    ],
    [
      'swap two dirs',
      (m) => {
        renameSync(join(m, 'old'), join(m, 'tmp'));
        renameSync(join(m, 'data'), join(m, 'old'));
        renameSync(join(m, 'tmp'), join(m, 'data'));
      },
    ],
  ];
  for (const [name, ops] of CASES) {
    it(name, () => {
      const run = runThroughMount(ops, REDIRECT);
      expectAgreement(run);
    });
  }
});

describePrivileged('changes(): both xattr namespaces', () => {
  it("a userxattr mount's upper (user.overlay.*) gives the same kinds with 'user' and 'auto'", () => {
    const ops = (m: string) => {
      rmSync(join(m, 'etc/os-release'));
      rmSync(join(m, 'data'), { recursive: true });
      mkdirSync(join(m, 'data'));
      writeFileSync(join(m, 'data/new.txt'), 'new');
      appendFileSync(join(m, 'bin/sh'), '# more\n');
      writeFileSync(join(m, 'app/added.py'), 'pass\n');
    };
    const expected = ['A /app/added.py', 'C /app', 'C /bin', 'C /bin/sh', 'C /data', 'D /data/a.txt', 'A /data/new.txt', 'D /data/sub', 'C /etc', 'D /etc/os-release'];
    const run = runThroughMount(ops, { userxattr: true }, { namespace: 'user' });
    const sorted = (l: Change[]) => l.map(formatChange).sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1));
    expect(sorted(run.ours)).toEqual([...expected].sort((a, b) => (a.slice(2) < b.slice(2) ? -1 : 1)));
    expect(changesSync(run.upper, run.lowers, { namespace: 'auto' })).toEqual(run.ours);
    expect(changesSync(run.upper, run.lowers)).toEqual(run.ours);
    expectAgreement(run);
    // Read as trusted.overlay.*, the opaque dir is missed: its lower content looks untouched.
    const trusted = changesSync(run.upper, run.lowers, { namespace: 'trusted' }).map(formatChange);
    expect(trusted).not.toContain('D /data/a.txt');
    expect(trusted).toContain('D /etc/os-release'); // device whiteouts have no namespace
  });
});

describePrivileged('changes(): the async iterator', () => {
  /** An upper of `n` added files (and one whiteout) over a small lower, on a tmpfs (fast to fill). */
  async function withBigUpper(n: number, fn: (upper: string, lowers: string[]) => Promise<void>): Promise<void> {
    const root = tempDir();
    const fs = tmpfsMountSync(root);
    try {
      const lower = writeTree(join(root, 'lower'), { 'keep.txt': 'k', 'gone.txt': 'g' });
      const tree: Record<string, string | null> = {};
      for (let i = 0; i < n; i++) tree[`d${Math.floor(i / 100)}/f${i}`] = String(i);
      const upper = writeTree(join(root, 'upper'), tree);
      createWhiteoutSync(join(upper, 'gone.txt'));
      await fn(upper, [lower]);
    } finally {
      fs.unmountSync();
    }
  }

  it('yields the same as changesSync across its periodic yields to the event loop', async () => {
    await withBigUpper(2500, async (upper, lowers) => {
      const sync = changesSync(upper, lowers);
      expect(sync.length).toBe(2500 + 25 + 1);
      const streamed: Change[] = [];
      for await (const c of changes(upper, lowers)) streamed.push(c);
      expect(streamed).toEqual(sync);
    });
  });

  it('can be stopped early: break ends it, and it yields nothing more', async () => {
    await withBigUpper(2500, async (upper, lowers) => {
      const sync = changesSync(upper, lowers);
      const got: Change[] = [];
      const it = changes(upper, lowers);
      for await (const c of it) {
        got.push(c);
        if (got.length === 1100) break;
      }
      expect(got).toEqual(sync.slice(0, 1100));
      expect(await it.next()).toEqual({ done: true, value: undefined });

      const early = changes(upper, lowers);
      expect((await early.next()).value).toEqual(sync[0]);
      expect(await early.return(undefined)).toEqual({ done: true, value: undefined });
      expect(await early.next()).toEqual({ done: true, value: undefined });
    });
  });
});

describePrivileged('changes(): upper dirs over names the lower layers hide or lack', () => {
  // The walk does not look up, in the lower layers, a name their listing lacks: a whiteout
  // hiding a dir further down must still make the upper dir an added one, not a changed one.
  it('an upper dir over a whited-out lower dir is added; over a lower dir, changed', async () => {
    const root = tempDir();
    const l2 = writeTree(join(root, 'l2'), { 'hid/old.txt': 'o', 'kept/k.txt': 'k' });
    const l1 = writeTree(join(root, 'l1'), { 'other.txt': 'x' });
    createWhiteoutSync(join(l1, 'hid'));
    const upper = writeTree(join(root, 'upper'), { 'hid/new.txt': 'n', 'kept/new.txt': 'n', 'fresh/f.txt': 'f' });
    const ours = changesSync(upper, [l1, l2]);
    expect(ours.map(formatChange)).toEqual(['A /fresh', 'A /fresh/f.txt', 'A /hid', 'A /hid/new.txt', 'C /kept', 'A /kept/new.txt']);
    const streamed: Change[] = [];
    for await (const c of changes(upper, [l1, l2])) streamed.push(c);
    expect(streamed).toEqual(ours);
  });
});

/**
 * `ovl demo` end to end, as a subprocess: the seven steps of the docs' three-layer example, and
 * afterwards no mount and no temp dir left. Without CAP_SYS_ADMIN it says what to run instead,
 * and that suggestion (a user namespace) works.
 */
import { chmodSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NOBODY, nobodyCanRun, ovl, rawMounts, withoutSysAdmin } from '../helpers/cli.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir } from '../helpers/tmp.js';

const demoDirs = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('ovl-demo-'));

/** The demo's output split into its numbered steps: { 1: 'lines...', ... }. */
function steps(out: string): Record<number, string> {
  const by: Record<number, string> = {};
  let n = 0;
  for (const line of out.split('\n')) {
    const m = /^(\d)\. /.exec(line);
    if (m) n = Number(m[1]);
    by[n] = `${by[n] ?? ''}${line}\n`;
  }
  return by;
}

/** Checks one run of the demo: every step says what it shows, and nothing is left. */
function expectDemo(out: string, tmp: string): void {
  const s = steps(out);
  expect(Object.keys(s).map(Number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  const root = /^1\. Build three layers in (\S+)$/m.exec(out)?.[1];
  expect(root).toBeDefined();
  expect(root!.startsWith(join(tmp, 'ovl-demo-'))).toBe(true);
  const L = (l: string) => join(root!, 'layers', l);
  const upper = join(root!, 'container', 'upper');
  const merged = join(root!, 'container', 'merged');

  // 1: the three layers and their files.
  expect(s[1]).toMatch(/^ {3}base +\/etc\/os-release .*\/bin\/sh .*\/lib\//m);
  expect(s[1]).toMatch(/^ {3}app +\/app\/server\.py +\/app\/requirements\.txt$/m);
  expect(s[1]).toMatch(/^ {3}config +\/etc\/app\/config\.json$/m);
  // 2: the plan, top layer first, and the mount.
  expect(s[2]).toContain('lowerdir = config:app:base');
  expect(s[2]).toMatch(/strategy: /);
  const layerOrder = ['config', 'app', 'base'].map((l) => s[2]!.indexOf(JSON.stringify(L(l))));
  expect(layerOrder.every((i) => i > 0)).toBe(true);
  expect([...layerOrder].sort((a, b) => a - b)).toEqual(layerOrder);
  expect(s[2]).toMatch(new RegExp(`mounted at ${merged} \\(mount id \\d+\\)`));
  // 3: config.json comes from the config layer.
  expect(s[3]).toContain('content: { "port": 8080, "debug": true }');
  expect(s[3]).toContain(`served by: config (${join(L('config'), 'etc/app/config.json')})`);
  // 4: the copy-up: the upper has the new content, the config layer the old one.
  expect(s[4]).toContain('upper now has: { "port": 9090, "debug": true }');
  expect(s[4]).toContain('config layer still has: { "port": 8080, "debug": true }');
  expect(s[4]).toContain(`served by: upper (${join(upper, 'etc/app/config.json')})`);
  // 5: the kernel's whiteout, a 0/0 character device.
  expect(s[5]).toContain('upper/bin/sh: character device 0/0, mode 000 (device whiteout)');
  expect(s[5]).toContain('base/bin/sh is still on disk: true');
  expect(s[5]).toContain('/bin/sh in the merged view: whited out in upper');
  // 6: the mount as mount(8) prints it, docker's GraphDriver.Data, the A/C/D lines.
  expect(s[6]).toMatch(new RegExp(`mount: +overlay on ${merged} type overlay \\(rw,.*upperdir=${upper},`));
  const docker = /^ +(\{"LowerDir".*\})$/m.exec(s[6]!)?.[1];
  expect(docker).toBe(
    JSON.stringify({ LowerDir: [L('config'), L('app'), L('base')].join(':'), MergedDir: merged, UpperDir: upper, WorkDir: join(root!, 'container', 'work') }),
  );
  const acd = s[6]!.split('\n').filter((l) => /^ +[ACD] \//.test(l)).map((l) => l.trim());
  expect(acd).toEqual(['C /bin', 'D /bin/sh', 'C /etc', 'C /etc/app', 'C /etc/app/config.json']);
  // 7: unmounted and removed.
  expect(s[7]).toContain(`unmounted; ${merged} is empty again: []`);
  expect(s[7]).toContain(`removed ${root}; nothing is left mounted`);

  expect(existsSync(root!)).toBe(false);
  expect(demoDirs(tmp)).toEqual([]);
  expect(rawMounts().filter((m) => m.mountPoint.startsWith(root!))).toEqual([]);
}

describePrivileged('ovl demo', () => {
  it('as root: exit 0, each of the seven steps, and afterwards no mount and no temp dir', () => {
    // Its own TMPDIR, so what is left there is the demo's alone.
    const tmp = tempDir();
    const before = demoDirs(tmpdir());
    const r = ovl(['demo'], { env: { TMPDIR: tmp } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectDemo(r.stdout, tmp);
    expect(readdirSync(tmp)).toEqual([]);
    expect(demoDirs(tmpdir())).toEqual(before);
  });

  it('without CAP_SYS_ADMIN (as nobody): says what to run instead, exits 1, creates nothing', () => {
    const tmp = tempDir();
    chmodSync(tmp, 0o1777);
    // Where nobody cannot read the checkout, root without CAP_SYS_ADMIN is the same test.
    const prefix = withoutSysAdmin();
    const r = ovl(['demo'], { prefix, env: { TMPDIR: tmp } });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      [
        'ovl demo mounts an overlay, which needs CAP_SYS_ADMIN. Run it as root:',
        '    sudo npx ovl demo',
        'or, without root, inside a new user and mount namespace:',
        '    unshare -Urm npx ovl demo',
        '',
      ].join('\n'),
    );
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('what it suggests works: as nobody under `unshare -Urm`, the demo runs to the end and leaves nothing', () => {
    const tmp = tempDir();
    chmodSync(tmp, 0o1777);
    // (As root, where nobody cannot read the checkout: the same user namespace, from uid 0.)
    const prefix = [...(nobodyCanRun() ? NOBODY : []), 'unshare', '-Urm'];
    const r = ovl(['demo'], { prefix, env: { TMPDIR: tmp }, cwd: tmp });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expectDemo(r.stdout, tmp);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

/**
 * `ovl batch`: many command lines in one process. 1,000 mount/umount cycles leave no mount and
 * no fd behind (the batch process's /proc/PID/fd, counted while it waits for more input); the
 * first failure stops the batch, --keep-going runs every line and exits as the last failure
 * says; --json gives one object per line; lines split as a shell splits them.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sys } from '../../src/index.js';
import { CLI, ovl, rawMountAt } from '../helpers/cli.js';
import { describePrivileged } from '../helpers/privileged.js';
import { mountsUnder, tempDir, writeTree } from '../helpers/tmp.js';

function fixture(names = ['m']) {
  const root = tempDir();
  writeTree(root, { 'a/a.txt': 'a', 'b/b.txt': 'b', 'u/': null, ...Object.fromEntries(names.map((n) => [`${n}/`, null])) });
  const at = (n: string) => join(root, n);
  return { root, a: at('a'), b: at('b'), u: at('u'), w: at('w'), at };
}

function cleanup(root: string): void {
  for (const m of mountsUnder(root).reverse()) sys.umount2Sync(m);
}

/** A batch whose stdin stays open: lines go in, result lines come out, one at a time. */
class Batch {
  readonly child: ChildProcessWithoutNullStreams;
  #out = '';
  #waiters: Array<() => void> = [];
  stderr = '';

  constructor(args: string[] = []) {
    this.child = spawn(process.execPath, [CLI, 'batch', ...args], { stdio: 'pipe' });
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      this.#out += d;
      for (const w of this.#waiters.splice(0)) w();
    });
    this.child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
  }

  /** Sends lines; resolves with the result lines once `n` more have come (all of stdout so far). */
  async send(lines: string[], results = lines.length): Promise<string[]> {
    const before = this.#out.split('\n').length - 1;
    this.child.stdin.write(lines.map((l) => `${l}\n`).join(''));
    while (this.#out.split('\n').length - 1 < before + results) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    return this.#out.split('\n').slice(before, before + results);
  }

  fds(): number {
    return readdirSync(`/proc/${this.child.pid}/fd`).length;
  }

  async end(): Promise<number | null> {
    this.child.stdin.end();
    return new Promise((r) => this.child.once('close', (code) => r(code)));
  }
}

describePrivileged('ovl batch', () => {
  it('1,000 mount and umount cycles in one process: every line ok, no mount and no fd left', async () => {
    const x = fixture();
    const m = x.at('m');
    const mount = `mount -o lowerdir=${x.a}:${x.b},upperdir=${x.u},workdir=${x.w} ${m}`;
    const b = new Batch();
    try {
      // Warm-up: the addon, the probe, the kmsg cursor.
      expect(await b.send([mount, `umount ${m}`])).toEqual(['line 1: ok', 'line 2: ok']);
      const fds = b.fds();
      const lines: string[] = [];
      for (let i = 0; i < 1000; i++) lines.push(mount, `umount ${m}`);
      const results = await b.send(lines);
      expect(results.filter((r) => !r.endsWith(': ok'))).toEqual([]);
      expect(results).toHaveLength(2000);
      expect(b.fds()).toBe(fds);
      expect(mountsUnder(x.root)).toEqual([]);
      expect(await b.end()).toBe(0);
      expect(b.stderr).toBe('');
    } finally {
      b.child.kill();
      cleanup(x.root);
    }
  }, 120_000);

  it('the first failure stops the batch (exit 32, the line named); --keep-going runs the rest and exits as the last failure says', () => {
    const x = fixture(['m1', 'm2']);
    const mount = (t: string) => `mount -o lowerdir=${x.a}:${x.b} ${t}`;
    const input = ['# two mounts and a failure between them', '', mount(x.at('m1')), mount(x.at('gone')), mount(x.at('m2'))].join('\n');
    try {
      const file = join(x.root, 'batch.txt');
      writeFileSync(file, input + '\n');
      const r = ovl(['batch', '-f', file]);
      expect(r.status).toBe(32);
      expect(r.stdout).toBe(`line 3: ok\nline 4: exit 32: ovl: ${x.at('gone')}: mount point does not exist.\n`);
      // The command's own stderr passes through: mount(8)'s first line, then ours.
      expect(r.stderr).toMatch(new RegExp(`^ovl: ${x.at('gone')}: mount point does not exist\\.\n {7}target: .* ENOENT`));
      expect(rawMountAt(x.at('m1'))?.fsType).toBe('overlay');
      expect(rawMountAt(x.at('m2'))).toBeUndefined();
      cleanup(x.root);

      const k = ovl(['batch', '-f', file, '--keep-going', '--json']);
      expect(k.status).toBe(32);
      const results = k.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(results.map((o) => [o.line, o.status])).toEqual([
        [3, 0],
        [4, 32],
        [5, 0],
      ]);
      expect(results[1]).toMatchObject({
        command: ['mount', '-o', `lowerdir=${x.a}:${x.b}`, x.at('gone')],
        stderr: expect.stringMatching(/^ovl: .*\/gone: mount point does not exist\.\n {7}target: /),
        error: { code: 'ERR_OVERLAY_SPEC', problems: [{ field: 'target', problem: expect.stringContaining('ENOENT') }] },
      });
      expect(rawMountAt(x.at('m2'))?.fsType).toBe('overlay');
      // The last failure decides: a usage error after the mount failure exits 1.
      cleanup(x.root);
      writeFileSync(file, `${input}\nmount --frobnicate /x\numount ${x.at('m1')} ${x.at('m2')}\n`);
      const u = ovl(['batch', '--keep-going', '-f', file]);
      expect(u.status).toBe(1);
      const tail = u.stdout.split('\n').slice(-3);
      expect(tail[0]).toMatch(/^line 6: exit 1: ovl mount: Unknown option '--frobnicate'/);
      expect(tail.slice(1)).toEqual(['line 7: ok', '']);
      expect(mountsUnder(x.root)).toEqual([]);
    } finally {
      cleanup(x.root);
    }
  });

  it('splits lines as a shell does: quotes and backslashes, no expansion; a bad line is a usage error; batch in a batch is refused', () => {
    const root = tempDir();
    writeTree(root, { 'lower one/a.txt': 'a', "it's/b.txt": 'b', 'my mount/': null, '$HOME/': null });
    try {
      const lines = [
        `mount -o "lowerdir=${root}/lower one:${root}/it's" '${root}/my mount'`,
        `ls`,
        `umount ${root.replaceAll('/', '\\/')}/my\\ mount`,
        `mount -o 'lowerdir=${root}/lower one':"${root}/it's" ${root}/$HOME`,
        `umount "${root}/\\$HOME"`,
        `mount "unterminated`,
        'batch',
        `layer export '${root}/lower one'`,
        `layer export '${root}/lower one' -o -`,
        `layer export '${root}/lower one' -o '${root}/one.tar'`,
      ];
      const file = join(root, 'b.txt');
      writeFileSync(file, lines.join('\n'));
      const r = ovl(['batch', '--keep-going', '-f', file]);
      const out = r.stdout.split('\n');
      expect(out.filter((l) => l.startsWith('line '))).toEqual([
        'line 1: ok',
        'line 2: ok',
        'line 3: ok',
        'line 4: ok',
        'line 5: ok',
        'line 6: exit 1: ovl batch: line 6: unterminated double quote',
        "line 7: exit 1: ovl: 'batch' cannot run here",
        "line 8: exit 1: ovl batch: 'layer export' without -o FILE writes the tar to stdout, which carries the batch's results: give -o FILE",
        "line 9: exit 1: ovl batch: 'layer export' without -o FILE writes the tar to stdout, which carries the batch's results: give -o FILE",
        'line 10: ok',
      ]);
      // No tar went to stdout: every line is text.
      expect(r.stdout).not.toContain('ustar');
      expect(statSync(join(root, 'one.tar')).size).toBeGreaterThan(512);
      // `ls` inside the batch printed its table before its result line.
      expect(out.some((l) => l.startsWith(`${root}/my mount `))).toBe(true);
      expect(r.status).toBe(1);
      expect(mountsUnder(root)).toEqual([]);
    } finally {
      cleanup(root);
    }
  });
});

/**
 * The `ovl` command run as a subprocess, as a person or a CI job runs it: `node dist/cli/ovl.cjs`
 * (built from src/ by `npm test` before vitest starts). The child shares this process's mount
 * namespace (the private one scripts/run-tests.mjs made), so what it mounts is in our
 * /proc/self/mountinfo.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { procFiles } from './proc.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO, 'dist', 'cli', 'ovl.cjs');

export interface OvlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface OvlOptions {
  cwd?: string;
  /** Added to (or, with undefined, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** Runs `prefix... node dist/cli/ovl.cjs args...`, e.g. ['setpriv', '--reuid=65534', ...]. */
  prefix?: string[];
  /** What the command reads on stdin (default: nothing; stdin is closed). */
  input?: string;
}

/**
 * Runs `ovl args...` to completion. Checks what every run must hold: it exited by itself (no
 * signal; the timeout only guards against a hang), wrote no ESC (stdout and stderr are pipes,
 * not a TTY: no colours), and left no process running the CLI behind.
 */
export function ovl(args: readonly string[], opts: OvlOptions = {}): OvlResult {
  const env: Record<string, string | undefined> = { ...process.env };
  // The no-colour check must hold because the output is not a TTY, not because of NO_COLOR.
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const argv = [...(opts.prefix ?? []), process.execPath, CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? REPO, env, encoding: 'utf8', timeout: 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  expect(r.error, `ovl ${args.join(' ')}`).toBeUndefined();
  expect(r.signal, `ovl ${args.join(' ')} was killed`).toBeNull();
  expect(r.stdout).not.toContain('\x1b');
  expect(r.stderr).not.toContain('\x1b');
  expect(cliProcesses()).toEqual([]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

/** Whether nobody can read the CLI (not where the checkout is private to root, e.g. under /root). */
export function nobodyCanRun(): boolean {
  const probe = `require('fs').accessSync(${JSON.stringify(CLI)}, 4)`;
  return spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, '-e', probe]).status === 0;
}

/** A prefix that runs without CAP_SYS_ADMIN: as nobody, or as root without it where nobody cannot read the checkout. */
export function withoutSysAdmin(): string[] {
  return nobodyCanRun() ? NOBODY : ['setpriv', '--inh-caps=-sys_admin', '--bounding-set=-sys_admin'];
}

/** Runs ovl and expects exit 0 and nothing on stderr; returns stdout. */
export function ovlOk(args: readonly string[], opts: OvlOptions = {}): string {
  const r = ovl(args, opts);
  expect({ status: r.status, stderr: r.stderr }, `ovl ${args.join(' ')}`).toEqual({ status: 0, stderr: '' });
  return r.stdout;
}

/** Processes (other than zombies) whose command line runs the CLI. */
export function cliProcesses(): string[] {
  const out: string[] = [];
  for (const [pid, cmdline] of procFiles('cmdline')) if (cmdline.split('\0').includes(CLI)) out.push(`${pid}: ${cmdline.replaceAll('\0', ' ')}`);
  return out;
}

/** A line of /proc/self/mountinfo, read independently of the library. */
export interface RawMount {
  mountId: number;
  mountPoint: string;
  /** Per-mount options (ro, nosuid, noatime, ...). */
  mountOptions: string[];
  fsType: string;
  source: string;
  /** Superblock options, octal escapes undone (a `,` inside a value shows as `\054` there). */
  superOptions: string[];
}

const unoctal = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

export function rawMounts(): RawMount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((line) => {
      const [pre = '', post = ''] = line.split(' - ');
      const f = pre.split(' ');
      const g = post.split(' ');
      return {
        mountId: Number(f[0]),
        mountPoint: unoctal(f[4] ?? ''),
        mountOptions: (f[5] ?? '').split(','),
        fsType: g[0] ?? '',
        source: unoctal(g[1] ?? ''),
        superOptions: (g[2] ?? '').split(',').map(unoctal),
      };
    });
}

/** The topmost mount at `path`, or undefined. */
export function rawMountAt(path: string): RawMount | undefined {
  return rawMounts()
    .filter((m) => m.mountPoint === path)
    .at(-1);
}

/** `script(1)` runs a command on a pseudo-terminal (util-linux); null when it is missing. */
export const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p)) ?? null;

/**
 * The rootless subset: fixtures/rootless.mjs runs the compiled library (dist/, built by
 * `npm test`) under `unshare -Urm`, i.e. as root of a new user namespace that owns a new mount
 * namespace. Its mounts die with it; it unmounts them anyway.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE, makeExample, MERGED } from '../helpers/example.js';
import { requireKernel } from '../helpers/privileged.js';
import { mountsUnder, tempDir } from '../helpers/tmp.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = join(here, 'fixtures', 'rootless.mjs');
const holdFixture = join(here, 'fixtures', 'hold-mount.mjs');
const dist = join(here, '..', '..', 'dist', 'index.js');

/** Why `unshare -Urm` cannot run here, or null. */
function skipReason(): string | null {
  const r = spawnSync('unshare', ['-Urm', 'true'], { encoding: 'utf8' });
  if (r.error) return `unshare(1) cannot run: ${r.error.message}`;
  if (r.status !== 0) return `unshare -Urm fails (unprivileged user namespaces disabled?): ${r.stderr.trim()}`;
  return null;
}
const reason = skipReason();
const describeRootless = reason === null ? describe : (name: string, fn: () => void) => describe.skip(`${name} [skipped: ${reason}]`, fn);

interface Results {
  error?: { message: string; stack?: string };
  probe: { kernel: string; userNamespace: boolean; canMount: boolean; userxattr: boolean; lowerdirPlus: boolean; uidMap: string };
  plan: { strategy: string; warnings: string[]; options: Record<string, unknown>; callerOptions: unknown };
  mount: {
    strategy: string;
    merged: Record<string, string>;
    options: { lower: string[]; upper?: string; options: Array<[string, string | true]> } | null;
    afterWrite: string;
    opaque: string;
    appDir: string[];
    upper: Record<string, string>;
    base: string;
    afterUnmount: { mounts: string[]; workLeft: boolean };
  };
  whiteout: { isCharacterDevice: boolean; rdev: number; app: string[]; exists: boolean; lowerStill: string; merged: Record<string, string> };
  refused: {
    plan?: { name: string; code: string; problems: Array<{ field: string; problem: string }> };
    mount?: { name: string; code: string; problems: Array<{ field: string; problem: string }> };
    automatic?: { name: string; code: string; problems: Array<{ field: string; problem: string }> };
    mounts: string[];
  };
}

/** MERGED with its directories, as the fixture's tree() lists them. */
function withDirs(files: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of Object.keys(files)) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) out[parts.slice(0, i).join('/')] = '<dir>';
  }
  return { ...out, ...files };
}

describeRootless('rootless: mountOverlay under unshare -Urm', () => {
  let r: Results;
  let x: ReturnType<typeof makeExample>;

  beforeAll(() => {
    expect(existsSync(dist), `${dist} is missing: npm test builds it (tsc -p tsconfig.build.json)`).toBe(true);
    // Removed after the first test (tempDir() cleans up after each); the tests below only look
    // at what the fixture printed.
    x = makeExample(tempDir());
    const run = spawnSync('unshare', ['-Urm', process.execPath, fixture, JSON.stringify(x)], { encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    r = JSON.parse(run.stdout) as Results;
    expect(r.error).toBeUndefined();
  });

  it('probeSync() sees the user namespace; plan() adds userxattr with a warning', () => {
    expect(r.probe.userNamespace).toBe(true);
    expect(r.probe.canMount).toBe(true);
    expect(r.probe.userxattr).toBe(true);
    expect(r.probe.uidMap).not.toBe('0 0 4294967295');
    expect(r.plan.callerOptions).toBeNull();
    expect(r.plan.options).toEqual({ userxattr: true });
    expect(r.plan.warnings).toEqual(['added userxattr: in a user namespace the trusted.overlay.* xattrs are not available']);
  });

  it('the three-layer example mounts with an upper: merged view, userxattr in mountinfo, a write copies up, user.overlay.opaque', () => {
    expect(r.mount.merged).toEqual(withDirs(MERGED));
    expect(r.mount.options?.lower).toEqual(x.lower);
    expect(r.mount.options?.upper).toBe(x.upper);
    expect(r.mount.options?.options.map(([k]) => k)).toContain('userxattr');
    expect(r.mount.afterWrite).toBe('ID=rootless\n');
    expect(r.mount.opaque).toBe('y');
    expect(r.mount.appDir).toEqual([]);
    expect(r.mount.upper).toEqual({ etc: '<dir>', 'etc/app': '<dir>', 'etc/os-release': 'ID=rootless\n' });
    expect(r.mount.base).toBe(BASE['etc/os-release']);
    expect(r.mount.afterUnmount).toEqual({ mounts: [], workLeft: false });
  });

  // The probe ran in the namespace, so the gate is asked at run time.
  it('the automatic strategy there is fd where the kernel takes layers by fd', (ctx) => {
    requireKernel(ctx, r.probe, 'layersByFd');
    expect(r.mount.strategy).toBe('fd');
  });

  it('a whiteout made in the namespace with mknod(c 0 0) hides the lower file in a fresh mount', () => {
    expect(r.whiteout.isCharacterDevice).toBe(true);
    expect(r.whiteout.rdev).toBe(0);
    expect(r.whiteout.exists).toBe(false);
    expect(r.whiteout.app).toEqual([]);
    expect(r.whiteout.lowerStill).toBe('print("serving")\n');
    const { 'app/server.py': _hidden, ...rest } = MERGED;
    const { 'etc/app/config.json': _opaqued, ...kept } = rest;
    expect(r.whiteout.merged).toEqual({ ...withDirs(kept), app: '<dir>', 'etc/app': '<dir>', 'etc/os-release': 'ID=rootless\n' });
  });

  it("redirectDir 'on' is refused clearly: with userxattr false (trusted xattrs) and with userxattr added", () => {
    for (const err of [r.refused.plan, r.refused.mount]) {
      expect(err?.name).toBe('OverlaySpecError');
      expect(err?.code).toBe('ERR_OVERLAY_SPEC');
      expect(err?.problems).toEqual([
        {
          field: 'options.userxattr',
          problem: expect.stringMatching(/^redirect_dir=on needs? trusted\.overlay\.\* xattrs, which a user namespace cannot use/),
        },
      ]);
    }
    expect(r.refused.automatic?.problems).toEqual([
      { field: 'options.userxattr', problem: "userxattr allows only redirectDir 'nofollow', got 'on' (kernel: conflicting options)" },
    ]);
    expect(r.refused.mounts).toEqual([]);
  });
});

/** Mount id -> mount point, from a mountinfo file. */
function mountTable(file: string): Map<number, string> {
  const table = new Map<number, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) table.set(Number(f[0]), f[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return table;
}

/** The first line `stream` prints (rejects if it ends first). */
function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    stream.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    stream.on('end', () => reject(new Error(`ended before a line: ${JSON.stringify(buf)}`)));
  });
}

describeRootless('rootless: the namespace keeps its mounts', () => {
  it("an overlay mounted in the namespace is in its mount table, never in ours, while it exists and after", async () => {
    const x = makeExample(tempDir());
    const child = spawn('unshare', ['-Urm', process.execPath, holdFixture, JSON.stringify(x)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    let held: { pid: number; mountNs: string; mountId: number };
    try {
      held = JSON.parse(await firstLine(child.stdout)) as typeof held;
      // The control: the same reading of the namespace's own table finds the overlay, mounted.
      expect(held.mountNs).not.toBe(readlinkSync('/proc/self/ns/mnt'));
      expect(mountTable(`/proc/${held.pid}/mountinfo`).get(held.mountId)).toBe(x.target);
      // Ours has no mount by that id, and none under the test's directory.
      expect(mountTable('/proc/self/mountinfo').has(held.mountId)).toBe(false);
      expect(mountsUnder(x.root)).toEqual([]);
    } finally {
      child.stdin.end();
    }
    expect(await exited, stderr).toBe(0);
    expect(stderr).toBe('');
    // (The id may be reused by now: only the directory is checked after.)
    expect(mountsUnder(x.root)).toEqual([]);
  });
});

/**
 * `ovl snapshotter` under a real containerd (1.6, Debian's) as its proxy plugin "ovl": images
 * pulled from a local registry by `ctr images pull --snapshotter ovl`, containers run by runc,
 * compared with containerd's own overlayfs snapshotter on the same images; the snapshotter killed
 * in the middle of a pull and started again; a 200-layer image.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkHealth } from '../../src/snapshotter/server.js';
import { busyboxLayout } from '../helpers/busybox.js';
import { CLI } from '../helpers/cli.js';
import { describeWithContainerd, snapshotWritableDir, useContainerd, type Containerd } from '../helpers/containerd.js';
import { skopeo, useRegistry, type RegistryServer } from '../helpers/registry.js';
import { mountsUnder } from '../helpers/tmp.js';

interface Running {
  child: ChildProcess;
  log: () => string;
}

/** `ovl snapshotter` as a process of its own, as a user runs it; resolves once it answers its health check. */
async function startOvl(socket: string, root: string): Promise<Running> {
  let log = '';
  const child = spawn(process.execPath, [CLI, 'snapshotter', '--socket', socket, '--root', root], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-200_000);
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`ovl snapshotter exited (${child.exitCode}):\n${log}`);
    if (existsSync(socket) && (await checkHealth(socket, 1000).catch(() => '')) === 'SERVING') return { child, log: () => log };
    if (i > 200) throw new Error(`ovl snapshotter did not answer in 20 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stopOvl(r: Running | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (!r || r.child.exitCode !== null) return r?.child.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => r.child.once('exit', (code) => resolve(code)));
  r.child.kill(signal);
  return exited;
}

async function pushBusybox(reg: RegistryServer, name: string, options: Parameters<typeof busyboxLayout>[0] = {}): Promise<string> {
  const { dir, ref } = await busyboxLayout(options);
  const image = `${reg.host}/ovl/${name}:1`;
  await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:${ref}`, `docker://${image}`]);
  return image;
}

/** `ctr snapshots ls`: key → kind and parent. */
async function snapshots(c: Containerd, snapshotter: string): Promise<Map<string, { parent: string; kind: string }>> {
  const r = await c.ctrOk(['snapshots', '--snapshotter', snapshotter, 'ls']);
  const out = new Map<string, { parent: string; kind: string }>();
  for (const line of r.stdout.trim().split('\n').slice(1)) {
    const w = line.trim().split(/\s+/);
    out.set(w[0]!, w.length === 3 ? { parent: w[1]!, kind: w[2]! } : { parent: '', kind: w[1]! });
  }
  return out;
}

/**
 * The root filesystem a container sees on `snapshotter`: every path with its type, mode, owner
 * and size, and every file's md5, listed by busybox inside the container (runc's own mounts left out).
 */
async function rootfsListing(c: Containerd, snapshotter: string, image: string): Promise<string> {
  const script = [
    'cd /',
    "busybox find . -xdev ! -path './proc*' ! -path './sys*' ! -path './dev*' | busybox sort | busybox xargs busybox stat -c '%n %f %u %g %s'",
    "busybox find . -xdev -type f ! -path './proc*' ! -path './sys*' ! -path './dev*' | busybox sort | busybox xargs busybox md5sum",
  ].join('; ');
  const id = `list-${snapshotter}-${Math.random().toString(36).slice(2, 8)}`;
  return (await c.ctrOk(['run', '--snapshotter', snapshotter, '--rm', image, id, '/bin/busybox', 'sh', '-c', script])).stdout;
}

/** `ctr images pull`, tried again as a kubelet would while containerd reconnects to a restarted snapshotter. */
async function pullRetrying(c: Containerd, image: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const r = await c.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'ovl', image], { timeoutMs: 120_000 });
    if (r.status === 0) return attempt;
    if (attempt >= 10 || !/unavailable|connection|transport/.test(r.stderr)) throw new Error(`ctr images pull ${image}: ${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describeWithContainerd('ovl snapshotter under containerd (proxy plugin)', () => {
  const registry = useRegistry();
  // For the whole block (tempDir() removes its dirs after each test): removed in afterAll.
  const base = mkdtempSync(join(tmpdir(), 'ovl-ctrd-snap-'));
  const socket = join(base, 'ovl.sock');
  const root = join(base, 'store');
  const containerd = useContainerd({ proxySnapshotters: { ovl: socket } });
  let ovl: Running | undefined;
  let image = '';

  beforeAll(async () => {
    ovl = await startOvl(socket, root);
    image = await pushBusybox(registry(), 'bb');
  }, 60_000);
  afterAll(async () => {
    await stopOvl(ovl);
    const left = mountsUnder(base);
    for (const m of left.reverse()) spawnSync('umount', ['-l', m]);
    rmSync(base, { recursive: true, force: true });
    expect(left).toEqual([]);
  });

  it('ctr pulls into it and runs a container on it: the output, the write in the snapshot, usage as du counts it', async () => {
    const c = containerd();
    await c.ctrOk(['images', 'pull', '--plain-http', '--snapshotter', 'ovl', image], { timeoutMs: 120_000 });
    const r = await c.ctrOk(['run', '--snapshotter', 'ovl', image, 'c1', 'sh', '-c', 'echo hello from ovl; echo written > /file; mkdir /d; echo x > /d/f']);
    expect(r.stdout).toContain('hello from ovl');
    const { dir, mounts } = await snapshotWritableDir(c, 'ovl', 'c1');
    expect(mounts[0]!.type).toBe('overlay');
    expect(dir.startsWith(join(root, 'overlay'))).toBe(true);
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('written\n');
    // (runc adds the mount points the image lacks, /run here, as it does on any snapshotter.)
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['d', 'file']));
    // ctr snapshots usage: the container's snapshot as du counts its upper (containerd prints KiB/MiB).
    const usage = (await c.ctrOk(['snapshots', '--snapshotter', 'ovl', 'usage', 'c1'])).stdout.trim().split('\n')[1]!.trim().split(/\s+/);
    const du = Number(spawnSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' }).stdout.split('\t')[0]);
    const inodes = spawnSync('find', [dir], { encoding: 'utf8' }).stdout.trim().split('\n').length;
    expect(`${usage[1]} ${usage[2]}`).toBe(humanSize(du));
    expect(Number(usage[3])).toBe(inodes);
    await c.ctrOk(['containers', 'rm', 'c1']);
  }, 120_000);

  it("the same image under containerd's overlayfs snapshotter: the same committed snapshot tree, the same root filesystem as a container sees it", async () => {
    const c = containerd();
    await c.ctrOk(['images', 'pull', '--plain-http', '--snapshotter', 'ovl', image], { timeoutMs: 120_000 });
    await c.ctrOk(['images', 'pull', '--plain-http', '--snapshotter', 'overlayfs', image], { timeoutMs: 120_000 });
    const ours = await snapshots(c, 'ovl');
    const theirs = await snapshots(c, 'overlayfs');
    const committed = (m: Map<string, { parent: string; kind: string }>) => [...m].filter(([, v]) => v.kind === 'Committed').sort();
    expect(committed(ours)).toEqual(committed(theirs));
    const a = await rootfsListing(c, 'ovl', image);
    const b = await rootfsListing(c, 'overlayfs', image);
    expect(a.split('\n').length).toBeGreaterThan(10);
    expect(a).toContain('./bin/busybox');
    expect(a).toBe(b);
  }, 120_000);

  it('killed in the middle of a pull and started again: containerd pulls to the end; nothing is left that no snapshot owns', async () => {
    const c = containerd();
    const deep = await pushBusybox(registry(), 'deep', { layers: 40 });
    const pulling = c.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'ovl', deep], { timeoutMs: 120_000 });
    // Killed once it has committed a few layers of this image.
    for (let i = 0; i < 600 && (ovl!.log().match(/Commit /g) ?? []).length < 8; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await stopOvl(ovl, 'SIGKILL')).toBe(null);
    const first = await pulling;
    expect(first.status).not.toBe(0);
    ovl = await startOvl(socket, root);
    await pullRetrying(c, deep);
    const r = await c.ctrOk(['run', '--snapshotter', 'ovl', '--rm', deep, 'deep1', 'sh', '-c', 'ls /layers | wc -l']);
    expect(r.stdout.trim()).toBe('39');
    // Every layer directory belongs to a snapshot record, and every record's directory is there.
    const records = readdirSync(join(root, 'snapshots'))
      .filter((n) => n.endsWith('.json'))
      .map((n) => JSON.parse(readFileSync(join(root, 'snapshots', n), 'utf8')) as { cacheId: string });
    const dirs = readdirSync(join(root, 'overlay')).filter((n) => n !== 'l');
    expect(dirs.sort()).toEqual(records.map((r) => r.cacheId).sort());
  }, 240_000);

  it('a 200-layer image pulls and runs on it', async () => {
    const c = containerd();
    const tall = await pushBusybox(registry(), 'tall', { layers: 200 });
    await c.ctrOk(['images', 'pull', '--plain-http', '--snapshotter', 'ovl', tall], { timeoutMs: 240_000 });
    const r = await c.ctrOk(['run', '--snapshotter', 'ovl', '--rm', tall, 'tall1', 'sh', '-c', 'ls /layers | wc -l; cat /layers/199']);
    expect(r.stdout.split('\n')[0]!.trim()).toBe('199');
  }, 300_000);

  it('SIGTERM: it stops and exits 0, the socket gone; --health says SERVING while it runs', async () => {
    const health = spawnSync(process.execPath, [CLI, 'snapshotter', '--health', '--socket', socket], { encoding: 'utf8' });
    expect({ status: health.status, out: health.stdout }).toEqual({ status: 0, out: 'SERVING\n' });
    expect(await stopOvl(ovl)).toBe(0);
    expect(existsSync(socket)).toBe(false);
    expect(ovl!.log()).toMatch(/SIGTERM: finishing the calls in flight\n.*stopped\n$/);
    ovl = undefined;
  });
});

/** containerd's progress.Bytes: `%02.1f` of the size in B, KiB, MiB … (base 1024). */
function humanSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1).padStart(2, '0')} ${units[i]}`;
}

/**
 * The containerd test harness (test/helpers/containerd.ts, busybox.ts), checked with containerd's
 * built-in overlayfs snapshotter before a snapshotter of ours rests on it: a busybox image pushed
 * to a local registry (skopeo), pulled by `ctr images pull`, run by `ctr run` (runc, the v2 shim);
 * a container's active snapshot found and its upperdir read (snapshotter-containerd.test.ts runs
 * the 200-layer image, on ours); stop() leaving
 * nothing behind (processes, mounts, cgroups, dirs); and proxy_plugins wiring, through a logging
 * proxy in front of another containerd's snapshots service, which also records the calls
 * containerd makes to a snapshotter.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { busyboxLayout } from '../helpers/busybox.js';
import {
  describeWithContainerd,
  mountOption,
  parseCtrMounts,
  snapshotWritableDir,
  startContainerd,
  startSnapshotterProxy,
  useContainerd,
  type Containerd,
  type SnapshotterCall,
} from '../helpers/containerd.js';
import { skopeo, useRegistry, type RegistryServer } from '../helpers/registry.js';
import { mountsUnder } from '../helpers/tmp.js';

const debug = Boolean(process.env.OVL_TEST_DEBUG);
const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    if (debug) console.log(`${what}: ${Math.round(performance.now() - t0)} ms`);
  }
};

/** busyboxLayout(options) pushed to `reg` as ovl/NAME:1; its name for ctr. */
async function pushBusybox(reg: RegistryServer, name: string, options: Parameters<typeof busyboxLayout>[0] = {}): Promise<string> {
  const { dir, ref } = await busyboxLayout(options);
  const image = `${reg.host}/ovl/${name}:1`;
  await timed(`skopeo copy ${name}`, () => skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:${ref}`, `docker://${image}`]));
  return image;
}

const pull = (c: Containerd, image: string, snapshotter = 'overlayfs'): Promise<unknown> =>
  timed(`ctr images pull ${image}`, () => c.ctrOk(['images', 'pull', '--plain-http', '--snapshotter', snapshotter, image], { timeoutMs: 240_000 }));

/** Lines of `ctr snapshots ls`: key, parent, kind. */
async function snapshots(c: Containerd, snapshotter = 'overlayfs'): Promise<Array<{ key: string; parent: string; kind: string }>> {
  const r = await c.ctrOk(['snapshots', '--snapshotter', snapshotter, 'ls']);
  return r.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .map((w) => (w.length === 3 ? { key: w[0]!, parent: w[1]!, kind: w[2]! } : { key: w[0]!, parent: '', kind: w[1]! }));
}

/** Pids whose cgroup path is under /NAMESPACE/ or whose argv names `address`. */
function processesOf(namespace: string, address: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cgroup = readFileSync(`/proc/${name}/cgroup`, 'utf8');
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (cgroup.includes(`:/${namespace}/`) || argv.includes(address)) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

function cgroupDirsOf(namespace: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => join(line.split(' ')[4]!, namespace))
    .filter((d) => existsSync(d));
}

describeWithContainerd('containerd harness, checked with the built-in overlayfs snapshotter', () => {
  const registry = useRegistry();
  const containerd = useContainerd();

  it('runs a containerd of its own: temp root, state and socket, its own namespace, the plugins ctr pull and run need', async () => {
    const c = containerd();
    for (const p of [c.address, c.root, c.state]) expect(p.startsWith(tmpdir())).toBe(true);
    expect(c.namespace).toMatch(/^ovl-\d+-[0-9a-f]+$/);
    const plugins = (await c.ctrOk(['plugins', 'ls'])).stdout;
    const status = (type: string, id: string): string | undefined =>
      plugins
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((w) => w[0] === type && w[1] === id)
        ?.at(-1);
    expect(status('io.containerd.snapshotter.v1', 'overlayfs')).toBe('ok');
    expect(status('io.containerd.runtime.v2', 'task')).toBe('ok');
    expect(status('io.containerd.grpc.v1', 'tasks')).toBe('ok');
    expect(status('io.containerd.differ.v1', 'walking')).toBe('ok');
    expect(plugins).not.toMatch(/\bcri\b/);
    expect(plugins).not.toMatch(/\berror\b/);
    // The runc shim's sockets, runc's state and ctr's FIFOs go to /run/containerd: a tmpfs here.
    const run = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4] === '/run/containerd');
    expect(run.at(-1)).toMatch(/ - tmpfs ovl-test-containerd-run /);
  });

  it('ctr pulls a busybox image from the local registry and runs it (--rm): the output, nothing left', async () => {
    const c = containerd();
    const image = await pushBusybox(registry(), 'busybox');
    await pull(c, image);
    expect((await c.ctrOk(['images', 'ls', '-q'])).stdout.split('\n')).toContain(image);
    const r = await timed('ctr run --rm', () =>
      c.ctrOk(['run', '--snapshotter', 'overlayfs', '--rm', image, 'run-rm', 'sh', '-c', 'echo hello; echo written > /file; cat /file']),
    );
    expect(r.stdout).toBe('hello\nwritten\n');
    expect((await c.ctrOk(['containers', 'ls', '-q'])).stdout.trim()).toBe('');
    expect((await snapshots(c)).map((s) => s.key)).not.toContain('run-rm');
    // The config's Env: PATH finds the applets.
    const r2 = await c.ctrOk(['run', '--snapshotter', 'overlayfs', '--rm', image, 'run-cmd', 'sh', '-c', 'echo $PATH; ls /bin | cat; cat /etc/passwd']);
    expect(r2.stdout).toContain('/usr/sbin:/usr/bin:/sbin:/bin\n');
    for (const applet of ['busybox', 'sh', 'echo', 'cat', 'ls', 'touch', 'mkdir', 'rm', 'sleep', 'true']) expect(r2.stdout.split('\n')).toContain(applet);
    expect(r2.stdout).toContain('root:x:0:0:root:/root:/bin/sh');
  });

  it('without --rm: the container keeps its active snapshot; its upperdir (from ctr snapshots mounts) holds /file', async () => {
    const c = containerd();
    const image = await pushBusybox(registry(), 'busybox-keep', { extraLayers: [{ 'etc/extra': 'extra layer\n' }] });
    await pull(c, image);
    const r = await c.ctrOk(['run', '--snapshotter', 'overlayfs', image, 'keep', 'sh', '-c', 'cat /etc/extra; echo kept > /file; mkdir /d; touch /d/f']);
    expect(r.stdout).toBe('extra layer\n');
    // The task has exited; the container (ID keep) and its snapshot (key keep) stay.
    expect((await c.ctrOk(['containers', 'ls', '-q'])).stdout.split('\n')).toContain('keep');
    const snaps = await snapshots(c);
    const active = snaps.find((s) => s.key === 'keep');
    expect(active?.kind).toBe('Active');
    expect(snaps.find((s) => s.key === active?.parent)?.kind).toBe('Committed');
    expect((await c.ctrOk(['snapshots', '--snapshotter', 'overlayfs', 'usage', 'keep'])).stdout).toMatch(/^keep\s+\S+ \S+\s+\d+/m);

    const { dir, mounts } = await snapshotWritableDir(c, 'overlayfs', 'keep');
    expect(mounts[0]!.type).toBe('overlay');
    expect(mountOption(mounts[0]!, 'lowerdir')!.split(':')).toHaveLength(2);
    expect(dir.startsWith(c.root)).toBe(true);
    expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('kept\n');
    expect(readdirSync(join(dir, 'd'))).toEqual(['f']);
    expect(existsSync(join(dir, 'etc', 'extra'))).toBe(false);

    await c.ctrOk(['containers', 'delete', 'keep']);
    expect((await snapshots(c)).map((s) => s.key)).not.toContain('keep');
  });

  it('parseCtrMounts reads the mount lines of `ctr snapshots mounts`', () => {
    const m = parseCtrMounts(
      'mount -t overlay overlay /tmp/x -o index=off,workdir=/r/2/work,upperdir=/r/2/fs,lowerdir=/r/1/fs:/r/0/fs\nmount -t bind /r/3/fs /tmp/y -o rbind,rw\n',
    );
    expect(m).toEqual([
      { type: 'overlay', source: 'overlay', target: '/tmp/x', options: ['index=off', 'workdir=/r/2/work', 'upperdir=/r/2/fs', 'lowerdir=/r/1/fs:/r/0/fs'] },
      { type: 'bind', source: '/r/3/fs', target: '/tmp/y', options: ['rbind', 'rw'] },
    ]);
    expect(mountOption(m[0]!, 'upperdir')).toBe('/r/2/fs');
  });

  it('stop() ends a running container, its shim and containerd, and removes mounts, cgroups and dirs', async () => {
    const reg = registry();
    const image = await pushBusybox(reg, 'busybox-stop');
    const c = await startContainerd();
    let stopped = false;
    try {
      await pull(c, image);
      await c.ctrOk(['run', '-d', '--snapshotter', 'overlayfs', image, 'sleeper', 'sleep', '1000']);
      expect((await c.ctrOk(['tasks', 'ls'])).stdout).toMatch(/^sleeper\s+\d+\s+RUNNING$/m);
      expect(processesOf(c.namespace, c.address).length).toBeGreaterThanOrEqual(2); // sleep and its shim
      expect(mountsUnder(c.state).length).toBe(1); // the container's rootfs
      expect(cgroupDirsOf(c.namespace).length).toBeGreaterThan(0);
      const dir = join(c.root, '..');
      await c.stop();
      stopped = true;
      expect(processesOf(c.namespace, c.address)).toEqual([]);
      expect(mountsUnder(dir)).toEqual([]);
      expect(cgroupDirsOf(c.namespace)).toEqual([]);
      expect(existsSync(dir)).toBe(false);
      expect(c.log()).not.toMatch(/killing/); // stop() ended them through ctr and containerd
    } finally {
      if (!stopped) await c.stop();
    }
  });
});

describeWithContainerd('containerd harness: proxy_plugins (a logging proxy in front of another containerd)', () => {
  const registry = useRegistry();
  // Serves the snapshots service for the built-in overlayfs: the proxy's target.
  const backend = useContainerd();

  it('a proxy snapshotter pulls and runs; the calls containerd makes are recorded', async () => {
    const a = backend();
    // The backend's GC must not take snapshots it knows of only through the snapshots API.
    await a.ctrOk(['leases', 'create', '--id', 'proxy', '--expires', '0']);
    const proxy = await startSnapshotterProxy({
      target: a.address,
      snapshotter: 'overlayfs',
      headers: { 'containerd-namespace': a.namespace, 'containerd-lease': 'proxy' },
    });
    const image = await pushBusybox(registry(), 'busybox-proxy', { extraLayers: [{ 'etc/extra': 'extra\n' }] });
    let b: Containerd | undefined;
    try {
      b = await startContainerd({ proxySnapshotters: { logged: proxy.socket } });
      expect((await b.ctrOk(['plugins', 'ls'])).stdout).toMatch(/io\.containerd\.snapshotter\.v1\s+logged\s+-\s+ok/);
      await pull(b, image, 'logged');
      const unpack = proxy.calls.splice(0);
      const r = await b.ctrOk(['run', '--snapshotter', 'logged', image, 'via-proxy', 'sh', '-c', 'cat /etc/extra; echo proxied > /file']);
      expect(r.stdout).toBe('extra\n');
      const run = proxy.calls.splice(0);
      const { dir } = await snapshotWritableDir(b, 'logged', 'via-proxy');
      expect(dir.startsWith(a.root)).toBe(true);
      expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('proxied\n');
      await b.ctrOk(['containers', 'delete', 'via-proxy']);
      // The snapshotter's Remove comes from containerd's garbage collector, a moment after the
      // delete returned (which removed the snapshot from containerd's metadata only).
      const removed = (): boolean => proxy.calls.some((x) => x.method === 'Remove' && /via-proxy$/.test(x.key ?? ''));
      for (let i = 0; i < 200 && !removed(); i++) await new Promise((r) => setTimeout(r, 50));
      const remove = proxy.calls.splice(0);
      // A second image on the same base layer: the layer there already is Stat'ed, not unpacked again.
      const image2 = await pushBusybox(registry(), 'busybox-proxy2', { extraLayers: [{ 'etc/other': 'other\n' }] });
      await pull(b, image2, 'logged');
      const unpack2 = proxy.calls.splice(0);

      const show = (calls: SnapshotterCall[]): string =>
        calls
          .map(
            (x) =>
              `${x.method}${x.name ? ` name=${x.name}` : ''}${x.key ? ` key=${x.key}` : ''}${x.parent ? ` parent=${x.parent}` : ''}` +
              `${x.labels ? ` labels=${JSON.stringify(x.labels)}` : ''}${x.filters?.length ? ` filters=${JSON.stringify(x.filters)}` : ''}` +
              ` -> ${x.status}${x.message ? ` (${x.message})` : ''}${x.namespace ? '' : ' [no namespace header]'}`,
          )
          .join('\n');
      if (debug) {
        console.log(
          `unpack (ctr images pull):\n${show(unpack)}\n\nctr run:\n${show(run)}\n\nctr containers delete:\n${show(remove)}\n\n` +
            `ctr images pull, an image on the same base layer:\n${show(unpack2)}`,
        );
      }

      // What containerd 1.6 sends a proxy snapshotter (OVL_TEST_DEBUG=1 prints it). Keys are
      // containerd's metadata keys, `<namespace>/<n>/<key>`, and no containerd-namespace header
      // comes with them; no labels either (only containerd.io/snapshot/… ones are passed on).
      // - ctr images pull, per layer: Prepare(key '<ns>/<n>/extract-<random> <chainID>', parent
      //   '<ns>/<m>/<parent chainID>'), the diff applied into the mounts Prepare answered (by
      //   containerd, not through the snapshotter), Commit(name '<ns>/<n+1>/<chainID>', key).
      //   containerd first asks its metadata for each chain ID: a layer it has never seen costs
      //   no call; one it has is Stat'ed (through to us) and not unpacked again.
      // - ctr run: Stat(the top chain ID's key), Prepare(key '<ns>/<n>/<container ID>', parent),
      //   Mounts(key) twice (container create, task start).
      // - ctr containers delete: Mounts(key); then, a moment later, containerd's GC: List (every
      //   snapshot we have: any key containerd does not know is removed, so a snapshotter must
      //   not be shared by two containerds), Remove(key), Cleanup (Unimplemented is accepted).
      const prepares = unpack.filter((x) => x.method === 'Prepare');
      const commits = unpack.filter((x) => x.method === 'Commit');
      expect(prepares.length).toBe(2);
      expect(commits.length).toBe(2);
      for (const p of prepares) expect(p.key).toMatch(/extract-/);
      expect(commits.map((x) => x.status)).toEqual([0, 0]);
      // The container's rootfs: Prepare(key ID, parent = the top layer's chain ID), then Mounts at start.
      const prep = run.find((x) => x.method === 'Prepare');
      expect(prep?.key).toMatch(/via-proxy$/);
      expect(prep?.parent).toBeTruthy();
      expect(remove.some((x) => x.method === 'Remove' && /via-proxy$/.test(x.key ?? ''))).toBe(true);
      expect(unpack2.filter((x) => x.method === 'Stat' && x.status === 0 && x.key === commits[0]!.name)).toHaveLength(1);
      expect(unpack2.filter((x) => x.method === 'Prepare' && x.parent === commits[0]!.name)).toHaveLength(1);
      expect(unpack2.filter((x) => x.method === 'Commit')).toHaveLength(1);
      for (const x of [...unpack, ...run]) expect(x.key).toMatch(new RegExp(`^${b.namespace}/\\d+/`));
      for (const x of [...unpack, ...run, ...remove, ...unpack2]) expect(x.message ?? '').not.toMatch(/^proxy:/);
    } finally {
      if (b) await b.stop();
      await proxy.close();
    }
  }, 120_000);
});

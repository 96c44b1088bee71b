/**
 * A real containerd (1.6, the distribution's) for the tests: one per startContainerd(), with its
 * own root, state, temp and grpc socket in a temp dir, the CRI plugin and the snapshotters and
 * monitors the tests do not use disabled, and `[proxy_plugins.NAME]` (type "snapshot") for each
 * snapshotter socket given. Images get in through a local registry (test/helpers/registry.ts):
 * `ctr images pull --plain-http 127.0.0.1:PORT/…`.
 *
 * What keeps it off the host's containerd (/var/lib/containerd, /run/containerd):
 * - root, state, temp, the opt plugin's dir and both sockets are in the temp dir;
 * - the runc shim puts its socket in /run/containerd/s/ and runc's state in /run/containerd/runc/,
 *   and ctr its FIFOs in /run/containerd/fifo/, whatever the config says (containerd 1.6 hard-codes
 *   them). So startContainerd() mounts a tmpfs on /run/containerd first, in this process's mount
 *   namespace, which the tests run in a private one (npm test: `unshare --mount --propagation
 *   private`): the host's /run/containerd, and a system containerd's shim sockets there, stay
 *   as they are. (Where /run/containerd does not exist, an empty directory is made for the
 *   mount point and left: removing it could detach another namespace's mount on it.)
 * - ctr() runs in a containerd namespace of its own (`ovl-<pid>-<random>`), so runc's cgroups
 *   are /sys/fs/cgroup/<controller>/<namespace>/<container>: stop() removes them, the parent
 *   that runc leaves too, without touching anyone's `default`.
 *
 * stop() deletes the tasks still there (through ctr), ends containerd (SIGTERM, SIGKILL after
 * 10 s), then ends by pid what is left of ours: container processes (in our namespace's
 * cgroups) and runc shims (started with our socket as -address). A shim outlives containerd on
 * purpose, so this is not optional. Then it detaches every mount under the temp dir (container
 * rootfs, snapshot mounts), removes the cgroups and the temp dir, and unmounts the tmpfs when
 * no other containerd of this process is running.
 *
 * OVL_TEST_DEBUG=1 starts containerd with --log-level debug (every snapshotter call of the
 * unpack and of `ctr run` shows in log()). startSnapshotterProxy() records the calls containerd
 * makes to a proxy snapshotter.
 *
 * About ctr: `ctr run` forwards the signals it gets to the container (a SIGTERM'd `ctr run` of a
 * `sh` that is pid 1 never ends: ctr() kills with SIGKILL at its timeout), and does not close the
 * container's stdin at the end of its own (give ctr run no command that reads stdin).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as http2Connect, createServer as createHttp2Server, type Http2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { MNT, sys } from '../../src/index.js';
import { busyboxStaticMissing } from './busybox.js';
import { inPrivateMountNs } from './caps.js';
import { describeWithRegistry } from './registry.js';
import { detachAllUnder, mountsUnder } from './tmp.js';

export interface CtrResult {
  stdout: string;
  stderr: string;
  /** The exit status; 128 + the signal number when it was killed (after timeoutMs: SIGKILL). */
  status: number;
}

export interface CtrOptions {
  /** Written to ctr's stdin (which is closed after it); without it stdin is /dev/null. */
  input?: string;
  /** Default 120 s; then SIGKILL and status 137. */
  timeoutMs?: number;
}

export interface Containerd {
  /** The grpc socket (`ctr --address`). */
  address: string;
  /** containerd's root and state dirs (its config's `root` and `state`). */
  root: string;
  state: string;
  /** The containerd namespace ctr() uses (`ctr --namespace`), one per containerd. */
  namespace: string;
  /** `ctr --address ADDRESS --namespace NAMESPACE ...args`, asynchronously; resolves whatever its status. */
  ctr(args: string[], options?: CtrOptions): Promise<CtrResult>;
  /** ctr(), rejecting with the command and its stderr when the status is not 0. */
  ctrOk(args: string[], options?: CtrOptions): Promise<CtrResult>;
  /** containerd's stdout and stderr so far (the last MiB), with the harness's own notes. */
  log(): string;
  /** Ends what it started and removes what it made; see the file comment. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ContainerdOptions {
  /** `[proxy_plugins.NAME] type = "snapshot", address = SOCKET`: use with `--snapshotter NAME`. */
  proxySnapshotters?: Record<string, string>;
  /** Plugins to disable on top of the ones always disabled (DISABLED_PLUGINS). */
  disabledPlugins?: string[];
  /** TOML appended to the config as it is (plugin sections). */
  extraConfig?: string;
  /** --log-level debug; default: OVL_TEST_DEBUG set. */
  debug?: boolean;
}

/** The programs a containerd test runs. */
export const CONTAINERD_TOOLS = ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2'] as const;

/**
 * Not needed by `ctr images pull` / `ctr run`: CRI (Kubernetes), the snapshotters other than
 * overlayfs, the restart monitor and the cgroup OOM monitor. Kept on purpose: content, metadata
 * (bolt), the walking differ, gc, leases, images, containers, snapshots, tasks, events,
 * introspection (`ctr plugins ls`), runtime v2 (the runc shim) and runtime v1 "linux": the tasks
 * service refuses to load without a runtime v1 plugin in 1.6 (then `ctr run` fails with
 * "unknown service containerd.services.tasks.v1.Tasks").
 */
export const DISABLED_PLUGINS = [
  'io.containerd.grpc.v1.cri',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.native',
  'io.containerd.internal.v1.restart',
  'io.containerd.monitor.v1.cgroups',
];

const LOG_LIMIT = 1 << 20;
const RUN_DIR = '/run/containerd';

/**
 * describeWithRegistry() for a block that starts containerd and a registry: root in the private
 * mount namespace, containerd, ctr, runc, containerd-shim-runc-v2, docker-registry and skopeo on
 * PATH, and a static /bin/busybox (busyboxLayout()). Skipped with the reason in the name where
 * one is missing; in CI=true as root every test fails with it instead.
 */
export function describeWithContainerd(name: string, fn: () => void): void {
  // describeWithTool() names a missing program: a dynamic busybox is "busybox-static is not installed".
  const busybox = busyboxStaticMissing() === null ? [] : ['busybox-static'];
  describeWithRegistry(name, fn, [...CONTAINERD_TOOLS, 'skopeo', ...busybox]);
}

/**
 * startContainerd(options) in beforeAll and stop() in afterAll; its log goes to stderr after a
 * failed test. The getter throws what made the start fail (as useRegistry()'s does).
 */
export function useContainerd(options: ContainerdOptions = {}): () => Containerd {
  let ctrd: Containerd | undefined;
  let error: unknown;
  beforeAll(async () => {
    try {
      ctrd = await startContainerd(options);
    } catch (e) {
      error = e;
    }
  });
  afterAll(async () => {
    await ctrd?.stop();
  });
  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail' && ctrd) console.error(`containerd log (${ctrd.address}):\n${ctrd.log()}`);
  });
  return () => {
    if (ctrd) return ctrd;
    throw error ?? new Error('containerd is not started (useContainerd() is for beforeAll-time use in tests)');
  };
}

/** Children still running, killed if this process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The env for containerd and ctr: an ASan run's LD_PRELOAD (libasan) is not for Go programs. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.LD_PRELOAD;
  delete env.CONTAINERD_ADDRESS;
  delete env.CONTAINERD_NAMESPACE;
  delete env.CONTAINERD_SNAPSHOTTER;
  return env;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.off('exit', done);
      resolve(false);
    }, ms);
    const done = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    child.once('exit', done);
  });
}

function runCtr(address: string, namespace: string, args: string[], options: CtrOptions = {}): Promise<CtrResult> {
  return new Promise((resolve) => {
    const child = spawn('ctr', ['--address', address, '--namespace', namespace, ...args], {
      stdio: [options.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: childEnv(),
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (options.input !== undefined) {
      child.stdin!.on('error', () => {
        /* ctr exited without reading it */
      });
      child.stdin!.end(options.input);
    }
    const ms = options.timeoutMs ?? 120_000;
    const timer = setTimeout(() => {
      stderr += `\n[ctr killed after ${ms} ms]`;
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, ms);
    child.once('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ stdout, stderr: `${stderr}ctr: ${e.message}`, status: 127 });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const status = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      resolve({ stdout, stderr, status });
    });
  });
}

function toml(s: string): string {
  // A JSON string is a TOML basic string (the same escapes, \uXXXX included).
  return JSON.stringify(s);
}

function configToml(o: { dir: string; root: string; state: string; temp: string; address: string; options: ContainerdOptions }): string {
  const disabled = [...DISABLED_PLUGINS, ...(o.options.disabledPlugins ?? [])];
  const lines = [
    'version = 2',
    `root = ${toml(o.root)}`,
    `state = ${toml(o.state)}`,
    `temp = ${toml(o.temp)}`,
    `disabled_plugins = [${disabled.map(toml).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${toml(o.address)}`,
    '',
    // Default: the grpc address + ".ttrpc"; named here so that it can never be /run/containerd's.
    '[ttrpc]',
    `  address = ${toml(`${o.address}.ttrpc`)}`,
    '',
    '[debug]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(o.dir, 'opt'))}`,
    '',
  ];
  for (const [name, socket] of Object.entries(o.options.proxySnapshotters ?? {})) {
    lines.push(`[proxy_plugins.${toml(name)}]`, '  type = "snapshot"', `  address = ${toml(socket)}`, '');
  }
  if (o.options.extraConfig) lines.push(o.options.extraConfig, '');
  return lines.join('\n');
}

/** /run/containerd's tmpfs: how many containerds of this process use it. */
let runDirUsers = 0;

function mountRunDir(note: (s: string) => void): void {
  if (runDirUsers++ > 0) return;
  try {
    if (existsSync(join(RUN_DIR, 'containerd.sock'))) {
      note(`a containerd is serving ${RUN_DIR}/containerd.sock: left alone (this one's sockets and state are in its temp dir, ${RUN_DIR} is a tmpfs here)`);
    }
    if (!existsSync(RUN_DIR)) {
      mkdirSync(RUN_DIR, { mode: 0o711 });
      note(`made ${RUN_DIR} (an empty directory, left for the mount point)`);
    }
    sys.mountSync('ovl-test-containerd-run', RUN_DIR, 'tmpfs', { data: 'mode=0711,size=64m' });
  } catch (e) {
    runDirUsers--;
    throw e;
  }
}

function unmountRunDir(): void {
  if (--runDirUsers > 0) return;
  try {
    sys.umount2Sync(RUN_DIR, { flags: MNT.DETACH });
  } catch {
    /* already gone */
  }
}

/** The mount points of the cgroup hierarchies (v1 controllers and v2) in this mount namespace. */
function cgroupRoots(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4]!.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Removes the cgroup directory tree `dir` (empty cgroups: rmdir, deepest first). */
function removeCgroupTree(dir: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return;
  }
  for (const e of entries) removeCgroupTree(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    /* busy (a process left in it) or gone */
  }
}

/** Pids of processes that are ours: containers in `namespace`'s cgroups, and shims of `address`. */
function leftoverPids(namespace: string, address: string): { containers: number[]; shims: number[] } {
  const containers: number[] = [];
  const shims: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      const cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      if (cgroup.split('\n').some((line) => line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).startsWith(`/${namespace}/`))) {
        containers.push(pid);
        continue;
      }
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (/containerd-shim/.test(argv[0] ?? '') && argv.some((a, i) => a === '-address' && argv[i + 1] === address)) shims.push(pid);
    } catch {
      /* gone */
    }
  }
  return { containers, shims };
}

/** Whether `pid` is gone or a zombie. */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function killAll(pids: number[], ms: number): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !pids.every(gone)) await sleep(50);
}

/**
 * Starts containerd on a socket in a fresh temp dir and waits until `ctr version` answers (15 s);
 * throws with its log otherwise. Needs root in a private mount namespace (the tmpfs on
 * /run/containerd); stop() it in afterAll/afterEach.
 */
export async function startContainerd(options: ContainerdOptions = {}): Promise<Containerd> {
  if (!inPrivateMountNs()) {
    throw new Error('startContainerd: not in a private mount namespace (it mounts a tmpfs on /run/containerd): run the tests with `npm test`');
  }
  // Short: the socket paths (state/containerd.sock.ttrpc) must fit sun_path's 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'ovl-ctrd-'));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const temp = join(dir, 'tmp');
  const address = join(state, 'containerd.sock');
  const namespace = `ovl-${process.pid}-${randomBytes(3).toString('hex')}`;
  const debug = options.debug ?? Boolean(process.env.OVL_TEST_DEBUG);

  let log = '';
  const append = (s: string): void => {
    log += s;
    if (log.length > LOG_LIMIT) log = log.slice(log.length - LOG_LIMIT);
  };
  const note = (s: string): void => append(`[harness] ${s}\n`);

  let child: ChildProcess | undefined;
  let runDir = false;
  let stopped = false;

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      // The tasks first, while containerd can still tell their shims to go.
      const tasks = await runCtr(address, namespace, ['tasks', 'ls', '-q'], { timeoutMs: 10_000 });
      for (const id of tasks.status === 0 ? tasks.stdout.split('\n').filter(Boolean) : []) {
        const r = await runCtr(address, namespace, ['tasks', 'delete', '--force', id], { timeoutMs: 10_000 });
        if (r.status !== 0) note(`ctr tasks delete --force ${id}: ${r.stderr.trim()}`);
      }
      if (c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        if (!(await waitExit(c, 10_000))) {
          note('containerd did not exit 10 s after SIGTERM: SIGKILL');
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
          await waitExit(c, 5000);
        }
      }
    }
    if (c) live.delete(c);
    const left = leftoverPids(namespace, address);
    if (left.containers.length > 0) note(`killing container processes left: ${left.containers.join(' ')}`);
    await killAll(left.containers, 5000);
    if (left.shims.length > 0) note(`killing shims left: ${left.shims.join(' ')}`);
    await killAll(left.shims, 5000);
    detachAllUnder(dir);
    for (const cg of cgroupRoots()) removeCgroupTree(join(cg, namespace));
    if (runDir) unmountRunDir();
    runDir = false;
    if (mountsUnder(dir).length > 0) throw new Error(`containerd: mounts left under ${dir}: ${mountsUnder(dir).join(' ')}; not removing it`);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    mkdirSync(root);
    mkdirSync(state);
    mkdirSync(temp);
    const config = join(dir, 'config.toml');
    writeFileSync(config, configToml({ dir, root, state, temp, address, options }));
    mountRunDir(note);
    runDir = true;

    const args = ['--config', config, ...(debug ? ['--log-level', 'debug'] : [])];
    const c = spawn('containerd', args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv(), cwd: dir });
    child = c;
    live.add(c);
    // Read both pipes to the end, always: a containerd blocked on a full pipe stops answering.
    c.stdout!.setEncoding('utf8').on('data', append);
    c.stderr!.setEncoding('utf8').on('data', append);
    let spawnError: Error | undefined;
    c.once('error', (e) => (spawnError = e));

    const deadline = Date.now() + 15_000;
    let last: CtrResult | undefined;
    while (Date.now() < deadline && c.exitCode === null && c.signalCode === null && !spawnError) {
      if (existsSync(address)) {
        last = await runCtr(address, namespace, ['version'], { timeoutMs: 3000 });
        if (last.status === 0 && /Server:/.test(last.stdout)) break;
      }
      await sleep(50);
    }
    if (!(last?.status === 0 && /Server:/.test(last.stdout))) {
      const why = spawnError
        ? `cannot run containerd: ${spawnError.message}`
        : c.exitCode !== null || c.signalCode !== null
          ? `containerd exited (${c.exitCode ?? c.signalCode}) before it answered`
          : `containerd did not answer \`ctr version\` within 15 s${last ? ` (ctr: ${last.stderr.trim()})` : ''}`;
      throw new Error(`${why}\n--- containerd log ---\n${log}`);
    }

    const ctr = (a: string[], o?: CtrOptions): Promise<CtrResult> => runCtr(address, namespace, a, o);
    return {
      address,
      root,
      state,
      namespace,
      ctr,
      ctrOk: async (a, o) => {
        const r = await ctr(a, o);
        if (r.status !== 0) throw new Error(`ctr ${a.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout ? `\nstdout:\n${r.stdout}` : ''}`);
        return r;
      },
      log: () => log,
      stop,
    };
  } catch (e) {
    await stop().catch((e2: unknown) => note(`stop after a failed start: ${(e2 as Error).message}`));
    throw e;
  }
}

export interface CtrMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/**
 * The mounts `ctr snapshots mounts TARGET KEY` prints, one `mount -t TYPE SOURCE TARGET -o
 * OPTIONS` line each (overlay for a snapshot with parents, bind for one without).
 */
export function parseCtrMounts(stdout: string): CtrMount[] {
  const mounts: CtrMount[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^mount -t (\S+) (\S+) (\S+)(?: -o (\S+))?$/.exec(line.trim());
    if (m) mounts.push({ type: m[1]!, source: m[2]!, target: m[3]!, options: m[4] ? m[4].split(',') : [] });
  }
  return mounts;
}

/** The value of `name=` among a mount's options (`upperdir`, `lowerdir`, `workdir`). */
export function mountOption(mount: CtrMount, name: string): string | undefined {
  const o = mount.options.find((opt) => opt.startsWith(`${name}=`));
  return o?.slice(name.length + 1);
}

/**
 * Where an active snapshot's writes go: the overlay's upperdir, or a bind mount's source (a
 * snapshot without parents). `ctr snapshots --snapshotter S mounts` of `key`; key of a container
 * made by `ctr run`: its ID.
 */
export async function snapshotWritableDir(c: Containerd, snapshotter: string, key: string): Promise<{ dir: string; mounts: CtrMount[] }> {
  const r = await c.ctrOk(['snapshots', '--snapshotter', snapshotter, 'mounts', '/unused-target', key]);
  const mounts = parseCtrMounts(r.stdout);
  const m = mounts[0];
  if (mounts.length !== 1 || !m) throw new Error(`ctr snapshots mounts ${key}: expected one mount, got:\n${r.stdout}`);
  const dir = m.type === 'overlay' ? mountOption(m, 'upperdir') : m.type === 'bind' || m.options.includes('bind') || m.options.includes('rbind') ? m.source : undefined;
  if (dir === undefined) throw new Error(`ctr snapshots mounts ${key}: no upperdir or bind source in: ${r.stdout}`);
  return { dir, mounts };
}

/** One call containerd made to a snapshotter, as startSnapshotterProxy() saw it. */
export interface SnapshotterCall {
  /** 'Prepare', 'Commit', 'Stat', … (containerd.services.snapshots.v1.Snapshots/<method>). */
  method: string;
  /** The `containerd-namespace` header, when sent. */
  namespace?: string;
  key?: string;
  parent?: string;
  /** Commit's name. */
  name?: string;
  labels?: Record<string, string>;
  /** List's filters. */
  filters?: string[];
  /** The grpc-status the snapshotter answered (0: OK, 5: NotFound, 6: AlreadyExists); undefined until it did. */
  status?: number;
  message?: string;
}

export interface SnapshotterProxy {
  /** Give this to containerd: `proxySnapshotters: { NAME: proxy.socket }`. */
  socket: string;
  /** Every call, in the order they came. */
  calls: SnapshotterCall[];
  close(): Promise<void>;
}

export interface SnapshotterProxyOptions {
  /** The socket of the snapshots service to forward to: a snapshotter's, or a containerd's. */
  target: string;
  /** Rewrite each request's `snapshotter` field (field 1) to this: to reach a containerd's built-in one. */
  snapshotter?: string;
  /** Request headers added where the request has none of that name (containerd-namespace, containerd-lease). */
  headers?: Record<string, string>;
}

const SNAPSHOTS_SERVICE = '/containerd.services.snapshots.v1.Snapshots/';

interface PbField {
  no: number;
  wire: number;
  /** The field's bytes, tag included. */
  raw: Buffer;
  /** Length-delimited: the payload; varint: undefined. */
  bytes?: Buffer;
  varint?: number;
}

function readVarint(b: Buffer, pos: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (pos >= b.length) throw new Error('protobuf: truncated varint');
    const byte = b[pos++]!;
    v += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return [v, pos];
    mul *= 128;
  }
}

function pbFields(b: Buffer): PbField[] {
  const out: PbField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const start = pos;
    const [tag, p] = readVarint(b, pos);
    pos = p;
    const wire = tag & 7;
    const field: Partial<PbField> = { no: Math.floor(tag / 8), wire };
    if (wire === 0) [field.varint, pos] = readVarint(b, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, q] = readVarint(b, pos);
      field.bytes = b.subarray(q, q + len);
      pos = q + len;
    } else throw new Error(`protobuf: wire type ${wire}`);
    if (pos > b.length) throw new Error('protobuf: truncated field');
    field.raw = b.subarray(start, pos);
    out.push(field as PbField);
  }
  return out;
}

function pbVarint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 128) {
    bytes.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

const pbString = (fields: PbField[], no: number): string | undefined => fields.find((f) => f.no === no && f.bytes)?.bytes?.toString('utf8');

function pbLabels(fields: PbField[], no: number): Record<string, string> | undefined {
  const entries = fields.filter((f) => f.no === no && f.bytes).map((f) => pbFields(f.bytes!));
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map((e) => [pbString(e, 1) ?? '', pbString(e, 2) ?? '']));
}

/** What a request says, by method (containerd/api/services/snapshots/v1/snapshots.proto). */
function describeRequest(method: string, msg: Buffer, call: SnapshotterCall): void {
  const f = pbFields(msg);
  const set = <K extends keyof SnapshotterCall>(k: K, v: SnapshotterCall[K] | undefined): void => {
    if (v !== undefined) call[k] = v;
  };
  switch (method) {
    case 'Prepare':
    case 'View':
      set('key', pbString(f, 2));
      set('parent', pbString(f, 3));
      set('labels', pbLabels(f, 4));
      break;
    case 'Commit':
      set('name', pbString(f, 2));
      set('key', pbString(f, 3));
      set('labels', pbLabels(f, 4));
      break;
    case 'Update': {
      const info = f.find((x) => x.no === 2 && x.bytes);
      if (info) {
        const i = pbFields(info.bytes!);
        set('key', pbString(i, 1));
        set('labels', pbLabels(i, 6));
      }
      break;
    }
    case 'List':
      call.filters = f.filter((x) => x.no === 2 && x.bytes).map((x) => x.bytes!.toString('utf8'));
      break;
    default:
      set('key', pbString(f, 2));
  }
}

/** gRPC length-prefixed messages: [compressed flag][u32 length][message]… */
function grpcMessages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos + 5 <= body.length) {
    if (body[pos] !== 0) throw new Error('grpc: a compressed message');
    const len = body.readUInt32BE(pos + 1);
    out.push(body.subarray(pos + 5, pos + 5 + len));
    pos += 5 + len;
  }
  return out;
}

function grpcFrame(msg: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/**
 * A logging proxy for the snapshots service (gRPC over HTTP/2, h2c on a unix socket): containerd
 * connects to `socket` as to a proxy snapshotter, each call is forwarded to `target` and recorded
 * in `calls` (method, key, parent, labels, the status answered). With `snapshotter`, it fronts a
 * containerd's built-in snapshotter (its snapshots service, reached with that name), which is how
 * the harness's proxy_plugins wiring is checked before any snapshotter of ours exists; in front
 * of a real snapshotter it shows the call sequence containerd makes.
 */
export async function startSnapshotterProxy(options: SnapshotterProxyOptions): Promise<SnapshotterProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'ovl-ssproxy-'));
  const socket = join(dir, 'proxy.sock');
  const calls: SnapshotterCall[] = [];
  const session = http2Connect('http://localhost', { createConnection: () => netConnect(options.target) });
  session.on('error', () => {
    /* each request reports it */
  });
  const rename = options.snapshotter !== undefined ? Buffer.concat([Buffer.from([0x0a]), pbVarint(Buffer.byteLength(options.snapshotter)), Buffer.from(options.snapshotter)]) : undefined;

  const server = createHttp2Server();
  const sessions = new Set<Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    const call: SnapshotterCall = { method: path.startsWith(SNAPSHOTS_SERVICE) ? path.slice(SNAPSHOTS_SERVICE.length) : path };
    const ns = headers['containerd-namespace'];
    if (typeof ns === 'string') call.namespace = ns;
    calls.push(call);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {
      /* containerd went away */
    });
    stream.on('end', () => {
      let body = Buffer.concat(chunks);
      try {
        const msgs = grpcMessages(body);
        if (msgs[0]) describeRequest(call.method, msgs[0], call);
        if (rename) {
          body = Buffer.concat(msgs.map((m) => grpcFrame(Buffer.concat([rename, ...pbFields(m).filter((f) => f.no !== 1).map((f) => f.raw)]))));
        }
      } catch (e) {
        call.message = `proxy: ${(e as Error).message}`;
      }
      const out: Record<string, string | string[]> = { ':method': 'POST', ':path': path };
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') && v !== undefined) out[k] = v;
      for (const [k, v] of Object.entries(options.headers ?? {})) if (out[k] === undefined) out[k] = v;
      let req: ReturnType<typeof session.request>;
      try {
        req = session.request(out);
      } catch (e) {
        call.status = 14;
        call.message = `proxy: ${(e as Error).message}`;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': encodeURIComponent(call.message) }, { endStream: true });
        return;
      }
      let trailers: Record<string, string | string[] | undefined> | undefined;
      const finish = (h: Record<string, string | string[] | undefined>): void => {
        call.status = Number(h['grpc-status'] ?? 0);
        if (typeof h['grpc-message'] === 'string') call.message = decodeURIComponent(h['grpc-message']);
      };
      req.on('response', (h) => {
        const reply: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(h)) if (v !== undefined && (k === ':status' || !k.startsWith(':'))) reply[k] = v;
        if (h['grpc-status'] !== undefined) {
          // Trailers-only: the status in the headers, no body.
          finish(h);
          stream.respond(reply, { endStream: true });
          req.resume();
          return;
        }
        stream.respond(reply, { waitForTrailers: true });
        stream.on('wantTrailers', () => {
          const t: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(trailers ?? { 'grpc-status': '0' })) if (v !== undefined && !k.startsWith(':')) t[k] = v;
          stream.sendTrailers(t);
        });
        req.pipe(stream);
      });
      req.on('trailers', (t) => {
        trailers = t;
        finish(t);
      });
      req.on('error', (e) => {
        call.status = 14;
        call.message = `proxy: ${e.message}`;
        if (!stream.headersSent) {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': encodeURIComponent(call.message) }, { endStream: true });
        } else stream.close();
      });
      req.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    socket,
    calls,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // close() waits for the open sessions: containerd keeps its connection.
      for (const s of sessions) s.destroy();
      await closed;
      session.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

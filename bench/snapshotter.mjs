/**
 * The snapshotter section of `npm run bench`: `ovl snapshotter` (the store served to containerd
 * as a proxy plugin, `--snapshotter ovl`) against containerd's built-in overlayfs snapshotter,
 * both behind one containerd 1.6 and driven by ctr, as a user would:
 *
 * - pull + unpack: `ctr images pull --plain-http --snapshotter X` of an image of 4 layers of
 *   real files (busybox; /usr/include + /usr/lib/python3; shared libraries; generated sources,
 *   random data and a whiteout: about 60 MB of gzip, as the registry section makes them), each
 *   pull in a containerd namespace of its own: snapshots are per namespace in containerd's
 *   metadata, so each pull unpacks every layer again; the backend snapshotters are shared, and
 *   what a pull made is removed after it (`ctr images rm --sync`: containerd's GC, waited for
 *   until the backend's snapshot count is back; that time is reported too). Two kinds:
 *   - content present: another namespace holds the image (`ctr content fetch`, no unpack) and
 *     containerd shares blobs between namespaces: no blob is downloaded (the registry's access
 *     log is counted to check it): resolve + unpack;
 *   - fresh content: the same layers with other gzip bytes (a gzip header's MTIME), so blobs no
 *     namespace holds: download from the local registry + unpack; the GC removes them after.
 *   ctr 1.6 fetches every blob first and unpacks after; its "done: …" (the unpack alone) is kept,
 *   and containerd's debug log gives each layer's apply by the differ (the same work for both).
 *   Pulls run ovl, overlayfs, overlayfs, ovl in a round (the next round the other way): on a
 *   disk, every other pull can take twice as long whichever snapshotter makes it, and a plain
 *   rotation hands one snapshotter the fast slots in most rounds.
 * - container start: `ctr run --rm --snapshotter X IMG ID true` end to end (Stat, Prepare,
 *   Mounts, the runc shim, runc create and start, the exit, the delete), on the image above and
 *   on a 1-layer busybox, both pulled with both snapshotters beforehand. The backend's Remove
 *   comes from containerd's GC after ctr returned: waited for after each run, outside the time
 *   (reported: how long after ctr's exit the snapshot was gone).
 * - 200 layers: a busybox image of 200 layers (one tiny file per layer above busybox): pull
 *   (content present), `ctr run --rm` of a command that reads the bottom and the top layers, and
 *   the removal, with both.
 * - where the time goes: ovl's own log (one line per call: method, ms in the snapshotter) summed
 *   per pull and per start; and the calls alone, straight over gRPC from here, interleaved:
 *   Prepare (on a committed parent), Mounts, Commit, Stat, Remove, through containerd's snapshots
 *   service to overlayfs and to ovl (the proxy hop included), and to a second ovl process (its
 *   own store: containerd's GC removes from a snapshotter whatever it does not know) directly.
 *
 * containerd's root and state and both snapshotters' stores are on the disk of os.tmpdir(), not
 * on the bench's tmpfs: the same filesystem for both, as on a host (fsync costs what it costs
 * there). The image build and the registry's storage are on the tmpfs. With
 * OVERLAYFS_BENCH_SNAPSHOTTER_TMPFS=1, a tmpfs is mounted on that directory instead: the disk's
 * speed (a layer's extraction is mostly writeback) and fsync out of the comparison, what is left
 * is each snapshotter's own work.
 *
 * containerd as test/helpers/containerd.ts starts it: a temp root, state, temp and sockets, the
 * plugins a pull and a run do not need disabled (CRI, the other snapshotters, the restart and
 * cgroup monitors), `[proxy_plugins.ovl]` for our socket, and a tmpfs on /run/containerd (the
 * runc shim's sockets, runc's state and ctr's FIFOs go there whatever the config says) in the
 * bench's private mount namespace. Every ctr call uses a namespace `ovlb-<pid>-<random>-…`, so
 * runc's cgroups are /sys/fs/cgroup/<controller>/<namespace>/…: removed at the end. At the end,
 * in order: tasks deleted, containerd stopped (SIGTERM), shims and container processes of ours
 * killed by pid, both snapshotters and the registry stopped, mounts under the temp dir
 * detached, cgroups removed, the /run/containerd tmpfs unmounted, the temp dir removed. If the
 * bench dies, an exit handler does what it can of that synchronously.
 *
 * OVERLAYFS_BENCH_SNAPSHOTTER_LOGS=DIR keeps the logs (ovl's, with each call's ms; containerd's;
 * the registry's access log) in DIR.
 *
 * Skipped, with the reason in the report, when containerd, ctr, runc, containerd-shim-runc-v2,
 * docker-registry, skopeo, tar or gzip is not on PATH, or /bin/busybox is not a static binary.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { fmtRatio, fmtTime, interleave, median, now, ratio, since, summarize, table } from './stats.mjs';
// The image-making and registry pieces are the registry section's.
import { freePort, fresh, gzLayer, ping, realLayers, startRegistry, waitExit } from './registry.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const TOOLS = ['containerd', 'ctr', 'runc', 'containerd-shim-runc-v2', 'docker-registry', 'skopeo', 'tar', 'gzip'];
const RUN_DIR = '/run/containerd';
const BUSYBOX = '/bin/busybox';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The names of the two snapshotters as ctr takes them. */
const OVL = 'ovl';
const OFS = 'overlayfs';
/** The 200-layer run: the bottom layer's busybox, the second layer's file, the top's, and the count of /layers. */
const DEEP_CHECK = 'cat /layers/1 /layers/199; ls /layers | wc -l';

const onPath = (cmd) => spawnSync('sh', ['-c', 'command -v "$0" >/dev/null', cmd]).status === 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Why /bin/busybox cannot go into an image (test/helpers/busybox.ts's check), or null. */
function busyboxStaticMissing() {
  let fd;
  try {
    fd = openSync(BUSYBOX, 'r');
  } catch {
    return `${BUSYBOX} is missing (apt-get install busybox-static)`;
  }
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return `${BUSYBOX} is not a 64-bit little-endian ELF file`;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === 3 /* PT_INTERP */) return `${BUSYBOX} is dynamically linked (apt-get install busybox-static)`;
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Why the section cannot run here, or null. */
export function snapshotterSkip() {
  const why = [];
  const missing = TOOLS.filter((t) => !onPath(t));
  if (missing.length > 0) why.push(`${missing.join(', ')} not on PATH (apt-get install containerd runc docker-registry skopeo)`);
  const bb = busyboxStaticMissing();
  if (bb) why.push(bb);
  if (!existsSync(join(repo, 'dist', 'cli', 'ovl.cjs'))) why.push('dist/cli/ovl.cjs is missing (npm run build:ts)');
  return why.length > 0 ? why.join('; ') : null;
}

// ---- images ----

/** A ustar archive of `entries` ({ name, data } files, { name, dir: true } directories), root-owned, mtime 0. */
function ustar(entries) {
  const parts = [];
  for (const e of entries) {
    const data = e.dir ? Buffer.alloc(0) : Buffer.from(e.data);
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write(e.dir ? '0000755\0' : '0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.dir ? '5' : '0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The busybox layer (test/helpers/busybox.ts's): the static /bin/busybox, applets as symlinks, /etc/passwd, /tmp. */
function busyboxLayer(run, dir) {
  const root = fresh(join(dir, 'busybox-root'));
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'root'), 0o700);
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'true', 'cat', 'ls', 'wc', 'echo']) symlinkSync('busybox', join(root, 'bin', applet));
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\n');
  const gz = join(dir, 'busybox.tar.gz');
  run('bash', ['-c', 'set -o pipefail; tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=pax -C "$2" -cf - . | gzip -6 -n > "$1"', 'bash', gz, root]);
  rmSync(root, { recursive: true, force: true });
  return gz;
}

/** The same gzip stream with another MTIME in its header: other bytes, the same tar. */
function regzip(src, dst, mtime) {
  const b = readFileSync(src);
  b.writeUInt32LE(mtime, 4);
  writeFileSync(dst, b);
}

/**
 * The images, in one OCI layout: `app` (busybox + 3 layers of real files, as the registry
 * section makes them), `app-fresh` (the same tars, other gzip bytes), `busybox` (1 layer) and
 * `deep` (busybox + 199 layers of one tiny file each).
 */
async function buildImages(lib, run, dir) {
  const build = fresh(join(dir, 'build'));
  const layers = [];
  const bb = busyboxLayer(run, build);
  const [bbGz, bbTar] = run('gzip', ['-l', bb]).trim().split('\n')[1].trim().split(/\s+/).map(Number);
  layers.push({ name: 'busybox', what: 'static busybox', gz: bb, gzBytes: bbGz, tarBytes: bbTar });
  layers.push(...realLayers(run, build, { doc: false }));

  const layout = fresh(join(dir, 'layout'));
  const config = (label) => ({ config: { Cmd: ['sh'], Env: [PATH_ENV], WorkingDir: '/', Labels: { 'bench.image': label } } });
  const app = await lib.writeOciLayout(layout, { layers: layers.map((l) => ({ path: l.gz, mediaType: GZIP, createdBy: `${l.name}: ${l.what}` })), ref: 'app', config: config('app') });
  const freshLayers = layers.map((l, i) => {
    const gz = join(build, `${l.name}-fresh.tar.gz`);
    regzip(l.gz, gz, 1);
    return { path: gz, mediaType: GZIP, createdBy: `${l.name}: ${l.what}`, diffId: app.layers[i].diffId };
  });
  const appFresh = await lib.writeOciLayout(layout, { layers: freshLayers, ref: 'app-fresh', config: config('app-fresh') });
  await lib.writeOciLayout(layout, { layers: [{ path: bb, mediaType: GZIP, createdBy: 'busybox', diffId: app.layers[0].diffId }], ref: 'busybox', config: config('busybox') });
  const deep = [{ path: bb, mediaType: GZIP, createdBy: 'busybox', diffId: app.layers[0].diffId }];
  for (let i = 1; i < 200; i++) {
    deep.push({ data: gzipSync(ustar([{ name: 'layers/', dir: true }, { name: `layers/${i}`, data: `${i}\n` }])), mediaType: GZIP, createdBy: `layer ${i}` });
  }
  await lib.writeOciLayout(layout, { layers: deep, ref: 'deep', config: config('deep') });
  rmSync(build, { recursive: true, force: true });
  return {
    layout,
    layers: layers.map(({ name, what, gzBytes, tarBytes }) => ({ name, what, gzBytes, tarBytes })),
    gzBytes: app.layers.reduce((n, l) => n + l.size, 0),
    freshDigests: appFresh.layers.map((l) => l.digest),
  };
}

// ---- processes: the registry, the snapshotters, containerd, ctr ----

/** Children and cleanups for the exit handler (the bench killed or failing half-way). */
const emergency = new Set();
process.once('exit', () => {
  for (const f of [...emergency].reverse()) {
    try {
      f();
    } catch {
      /* best effort */
    }
  }
});

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

/** A child whose stdout and stderr go to `logFile`; SIGKILLed by the exit handler if still running. */
function spawnLogged(cmd, args, logFile, options = {}) {
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: childEnv(), ...options });
  closeSync(fd);
  let spawnError;
  child.once('error', (e) => (spawnError = e));
  const kill = () => {
    if (alive(child) && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  };
  emergency.add(kill);
  return {
    child,
    error: () => spawnError,
    /** SIGTERM, then SIGKILL after `ms`. */
    stop: async (ms = 10_000) => {
      if (alive(child) && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        if (!(await waitExit(child, ms))) {
          kill();
          await waitExit(child, 5000);
        }
      }
      emergency.delete(kill);
    },
  };
}

/** The env for containerd and ctr: no CONTAINERD_* of the caller's, no LD_PRELOAD. */
function childEnv() {
  const env = { ...process.env };
  for (const k of ['LD_PRELOAD', 'CONTAINERD_ADDRESS', 'CONTAINERD_NAMESPACE', 'CONTAINERD_SNAPSHOTTER']) delete env[k];
  return env;
}

/** Whether something accepts connections on the unix socket. */
function listening(path) {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * `node dist/cli/ovl.cjs snapshotter --socket SOCKET --root ROOT`, its log in a file: calls()
 * reads the per-call lines (`<time> Prepare key="…" 3.1 ms`) logged since a mark.
 */
async function startOvl(dir, name) {
  const socket = join(dir, `${name}.sock`);
  const root = join(dir, name);
  const logFile = join(dir, `${name}.log`);
  const proc = spawnLogged(process.execPath, [join(repo, 'dist', 'cli', 'ovl.cjs'), 'snapshotter', '--socket', socket, '--root', root], logFile);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && alive(proc.child) && !proc.error()) {
    if (existsSync(socket) && (await listening(socket))) {
      return {
        socket,
        root,
        stop: proc.stop,
        log: () => readFileSync(logFile, 'utf8'),
        mark: () => statSync(logFile).size,
        calls: (from, to) => parseCalls(readFileSync(logFile).subarray(from, to).toString('utf8')),
        /** Entries of the store's overlay/ (a snapshot's directory each, and l/): gone once the Remove is done. */
        count: () => {
          try {
            return readdirSync(join(root, 'overlay')).length;
          } catch {
            return 0;
          }
        },
        /** Whether the log has, since `from`, a Remove and a Cleanup after it (one pass of containerd's GC over it). */
        gcDone: (from) => {
          const calls = parseCalls(readFileSync(logFile).subarray(from).toString('utf8'));
          const r = calls.findLastIndex((c) => c.method === 'Remove');
          return r >= 0 && calls.slice(r).some((c) => c.method === 'Cleanup');
        },
      };
    }
    await sleep(50);
  }
  await proc.stop();
  throw new Error(`ovl snapshotter did not start${proc.error() ? `: ${proc.error().message}` : ''}:\n${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`);
}

/** The snapshotter's log lines, as [{ method, ms, error }]. */
function parseCalls(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^\S+ ([A-Z]\w*)\b.*?\s([\d.]+) ms( error:)?/.exec(line);
    if (m) out.push({ method: m[1], ms: Number(m[2]), error: Boolean(m[3]) });
  }
  return out;
}

const toml = (s) => JSON.stringify(s);

/** test/helpers/containerd.ts's config: temp root, state, sockets; CRI and what a pull and a run do not need disabled. */
function containerdConfig(dir, proxies) {
  const disabled = [
    'io.containerd.grpc.v1.cri',
    'io.containerd.snapshotter.v1.aufs',
    'io.containerd.snapshotter.v1.btrfs',
    'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.zfs',
    'io.containerd.snapshotter.v1.native',
    'io.containerd.internal.v1.restart',
    'io.containerd.monitor.v1.cgroups',
  ];
  const address = join(dir, 'state', 'containerd.sock');
  const lines = [
    'version = 2',
    `root = ${toml(join(dir, 'root'))}`,
    `state = ${toml(join(dir, 'state'))}`,
    `temp = ${toml(join(dir, 'tmp'))}`,
    `disabled_plugins = [${disabled.map(toml).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${toml(address)}`,
    '',
    '[ttrpc]',
    `  address = ${toml(`${address}.ttrpc`)}`,
    '',
    '[debug]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(dir, 'opt'))}`,
    '',
  ];
  for (const [name, socket] of Object.entries(proxies)) lines.push(`[proxy_plugins.${toml(name)}]`, '  type = "snapshot"', `  address = ${toml(socket)}`, '');
  return { text: lines.join('\n'), address };
}

/** `ctr --address A --namespace NS ...args`; resolves { stdout, stderr, status } (SIGKILL after timeoutMs: 137). */
function ctrRaw(address, namespace, args, timeoutMs = 300_000) {
  return new Promise((resolve) => {
    const child = spawn('ctr', ['--address', address, '--namespace', namespace, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
    const timer = setTimeout(() => {
      stderr += `\n[ctr killed after ${timeoutMs} ms]`;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ stdout, stderr: `${stderr}ctr: ${e.message}`, status: 127 });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, status: code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0) });
    });
  });
}

/** The mount points under `dir` in this mount namespace, innermost last. */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

function cgroupRoots() {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => / - cgroup2? /.test(line))
    .map((line) => line.split(' ')[4].replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}

function removeCgroupTree(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory());
  } catch {
    return;
  }
  for (const e of entries) removeCgroupTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    /* busy or gone */
  }
}

/** Pids of ours: processes in a cgroup of one of our namespaces (`/<prefix>…/`), and shims of our containerd. */
function leftoverPids(prefix, address) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cgroup = readFileSync(`/proc/${name}/cgroup`, 'utf8');
      const ours = cgroup.split('\n').some((line) => line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1).startsWith(`/${prefix}`));
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const shim = /containerd-shim/.test(argv[0] ?? '') && argv.some((a, i) => a === '-address' && argv[i + 1] === address);
      if (ours || shim) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

/** Parses a Go time.Duration string ("1.5s", "812.3ms", "1m2.1s") into ns. */
function goDuration(s) {
  const unit = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, us: 1e3, 'µs': 1e3, ns: 1 };
  let ns = 0;
  for (const m of s.matchAll(/([\d.]+)(h|ms|m|s|us|µs|ns)/g)) ns += Number(m[1]) * unit[m[2]];
  return ns;
}

/**
 * interleave() for pairs of variants run `a b b a` each round (`b a a b` the next), after one
 * warm-up run each: where the machine alternates (on a disk, every other 200 MB extraction can
 * take twice as long, whichever snapshotter it is, as the journal fills and empties), each of a
 * pair gets one of each slot per round, and its round's median is the mean of the two.
 */
async function abba(pairs, rounds, log) {
  const all = pairs.flat();
  const samples = new Map(all.map((v) => [v.name, []]));
  for (const v of all) await v.run(1);
  for (let r = 0; r < rounds; r++) {
    const got = new Map(all.map((v) => [v.name, []]));
    for (const [a, b] of pairs) for (const v of r % 2 ? [b, a, a, b] : [a, b, b, a]) got.get(v.name).push(...(await v.run(1)));
    for (const [name, xs] of got) samples.get(name).push(xs);
    log(`round ${r + 1}/${rounds}`);
  }
  return samples;
}

// ---- gRPC: the snapshots service, called from here ----

async function snapshotsClient(socket, metadata = {}) {
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const { descriptor } = await import('../dist/snapshotter/proto.js');
  const def = grpc.loadPackageDefinition(loader.fromJSON(descriptor, { keepCase: true, longs: Number, enums: String, defaults: true }));
  const client = new def.containerd.services.snapshots.v1.Snapshots(`unix:${socket}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return {
    call: (method, req) => new Promise((resolve, reject) => client[method](req, md, { deadline: Date.now() + 60_000 }, (e, r) => (e ? reject(e) : resolve(r)))),
    close: () => client.close(),
  };
}

// ---- the section ----

export async function benchSnapshotter({ lib, base, run, log, rounds, results, quick }) {
  const skip = snapshotterSkip();
  if (skip) {
    log(`snapshotter: skipped: ${skip}`);
    results.notes.push(`snapshotter section skipped: ${skip}`);
    return;
  }
  const { MNT, sys } = lib;
  const work = fresh(join(base, 'snapshotter'));
  // Short: containerd's sockets (state/containerd.sock.ttrpc) must fit sun_path's 108 bytes.
  const dir = mkdtempSync(join(os.tmpdir(), 'ovl-sb-'));
  const prefix = `ovlb-${process.pid}-${randomBytes(3).toString('hex')}`;
  const stops = [];
  let runDir = false;
  let ctrdAddress;
  const namespaces = new Set();

  /** What is left of ours, synchronously (the exit handler's part). */
  const cleanupSync = () => {
    if (ctrdAddress) {
      for (const pid of leftoverPids(prefix, ctrdAddress)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    for (const m of mountsUnder(dir).reverse()) {
      try {
        sys.umount2Sync(m, { flags: MNT.DETACH });
      } catch {
        /* gone */
      }
    }
    for (const root of cgroupRoots()) {
      let names = [];
      try {
        names = readdirSync(root).filter((n) => n.startsWith(prefix));
      } catch {
        /* not readable */
      }
      for (const n of names) removeCgroupTree(join(root, n));
    }
    if (runDir) {
      try {
        sys.umount2Sync(RUN_DIR, { flags: MNT.DETACH });
      } catch {
        /* gone */
      }
      runDir = false;
    }
    if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
  };
  emergency.add(cleanupSync);

  // A failure before the measurements (containerd, the registry or runc cannot run here) skips
  // the section with the reason; one after fails the bench.
  let stage = 'setup';
  try {
    if (process.env.OVERLAYFS_BENCH_SNAPSHOTTER_TMPFS) sys.mountSync('ovl-bench-snapshotter', dir, 'tmpfs', { data: 'mode=0700' });
    // Ours, then containerd with it as a proxy plugin (first: where they cannot run, the section skips at once).
    const ovl = await startOvl(dir, 'ovl');
    stops.push(() => ovl.stop());
    const cfg = containerdConfig(dir, { [OVL]: ovl.socket });
    for (const d of ['root', 'state', 'tmp']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'config.toml'), cfg.text);
    if (!existsSync(RUN_DIR)) mkdirSync(RUN_DIR, { mode: 0o711 }); // left: the mount point
    sys.mountSync('ovl-bench-containerd-run', RUN_DIR, 'tmpfs', { data: 'mode=0711,size=64m' });
    runDir = true;
    const ctrdLog = join(dir, 'containerd.log');
    // --log-level debug: the differ logs each layer it applies ("diff applied", d=duration).
    const ctrd = spawnLogged('containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'debug'], ctrdLog, { cwd: dir });
    const ctrdMark = () => statSync(ctrdLog).size;
    /** The layers containerd's differ applied since `from`: how many, and their time summed (ns). */
    const applied = (from, to) => {
      const text = readFileSync(ctrdLog).subarray(from, to).toString('utf8');
      let layers = 0;
      let ns = 0;
      for (const line of text.split('\n')) {
        if (!line.includes('msg="diff applied"')) continue;
        const d = / d="?([\d.]+(?:h|ms|m|s|us|µs|ns))/.exec(line);
        layers++;
        if (d) ns += goDuration(d[1]);
      }
      return { layers, ns };
    };
    ctrdAddress = cfg.address;
    const nsOf = (name) => {
      const ns = `${prefix}-${name}`;
      namespaces.add(ns);
      return ns;
    };
    const ctr = (ns, args, timeoutMs) => ctrRaw(cfg.address, ns, args, timeoutMs);
    const ctrOk = async (ns, args, timeoutMs) => {
      const r = await ctr(ns, args, timeoutMs);
      if (r.status !== 0) throw new Error(`ctr -n ${ns} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
      return r;
    };
    stops.push(async () => {
      if (alive(ctrd.child)) {
        for (const ns of namespaces) {
          const tasks = await ctr(ns, ['tasks', 'ls', '-q'], 10_000);
          for (const id of tasks.status === 0 ? tasks.stdout.split('\n').filter(Boolean) : []) await ctr(ns, ['tasks', 'delete', '--force', id], 10_000);
        }
      }
      await ctrd.stop();
    });
    {
      const deadline = Date.now() + 15_000;
      let last;
      while (Date.now() < deadline && alive(ctrd.child) && !ctrd.error()) {
        if (existsSync(cfg.address)) {
          last = await ctr('default', ['version'], 3000);
          if (last.status === 0 && /Server:/.test(last.stdout)) break;
        }
        await sleep(50);
      }
      if (!(last?.status === 0 && /Server:/.test(last.stdout))) {
        const tail = readFileSync(ctrdLog, 'utf8').slice(-4000).trim();
        throw new Error(`containerd did not start: ${tail.split('\n').at(-1) || `ctr version: ${last?.stderr.trim()}`}\n${tail}`);
      }
    }
    const plugins = (await ctrOk(nsOf('setup'), ['plugins', 'ls'])).stdout;
    for (const s of [OVL, OFS]) {
      if (!new RegExp(`io\\.containerd\\.snapshotter\\.v1\\s+${s}\\s+\\S+\\s+ok`).test(plugins)) throw new Error(`containerd: snapshotter ${s} is not ok:\n${plugins}`);
    }
    const ofsSnapshots = join(dir, 'root', 'io.containerd.snapshotter.v1.overlayfs', 'snapshots');
    const backend = {
      [OVL]: () => ovl.count(),
      [OFS]: () => {
        try {
          return readdirSync(ofsSnapshots).length;
        } catch {
          return 0;
        }
      },
    };
    const blobPath = (digest) => join(dir, 'root', 'io.containerd.content.v1.content', 'blobs', 'sha256', digest.slice('sha256:'.length));
    /**
     * After a removal (images rm, run --rm): the ns until the backend's snapshot directories are
     * back to `before` (GC's Remove done), then, for ovl, until the GC's Cleanup after it is logged
     * too (untimed: so that no call of this removal runs into the next timing); undefined when
     * not within `ms`.
     */
    const settle = async (snap, before, logMark, ms = 60_000) => {
      const gone = await waitFor(() => backend[snap]() <= before, ms);
      if (gone !== undefined && snap === OVL) await waitFor(() => ovl.gcDone(logMark), 10_000);
      return gone;
    };
    /** Waits until `done()` (every 5 ms, at most `ms`); the ns it took, or undefined on timeout. */
    const waitFor = async (done, ms = 60_000) => {
      const t0 = now();
      const deadline = Date.now() + ms;
      while (!done()) {
        if (Date.now() > deadline) return undefined;
        await sleep(5);
      }
      return since(t0);
    };

    log('snapshotter: building the images (busybox + 3 layers of real files; the same with other gzip bytes; busybox; 200 layers)');
    const image = await buildImages(lib, run, work);
    const reg = await startRegistry(fresh(join(work, 'registry')));
    stops.push(() => reg.stop());
    const policy = join(work, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const ref = (name) => `${reg.host}/bench/${name}:1`;
    for (const name of ['app', 'app-fresh', 'busybox', 'deep']) {
      run('skopeo', ['--policy', policy, 'copy', '--quiet', '--dest-tls-verify=false', '--preserve-digests', `oci:${image.layout}:${name}`, `docker://${ref(name)}`]);
    }
    rmSync(image.layout, { recursive: true, force: true });

    // The blobs of app and deep in a namespace of their own (no unpack): present for every pull of them.
    const keep = nsOf('keep');
    for (const name of ['app', 'deep']) await ctrOk(keep, ['content', 'fetch', '--plain-http', ref(name)]);
    // app and busybox unpacked with both, for the starts.
    const runNs = nsOf('run');
    for (const name of ['app', 'busybox']) for (const s of [OVL, OFS]) await ctrOk(runNs, ['images', 'pull', '--plain-http', '--snapshotter', s, ref(name)]);
    for (const s of [OVL, OFS]) {
      const r = await ctrOk(runNs, ['run', '--rm', '--snapshotter', s, ref('app'), `check-${s}`, 'sh', '-c', 'ls /srv/app/src | wc -l; test -e /usr/include/zlib.h || echo whiteout']);
      if (r.stdout.replace(/\s+/g, ' ').trim() !== '20 whiteout') throw new Error(`ctr run --snapshotter ${s}: unexpected output ${JSON.stringify(r.stdout)}`);
    }

    stage = 'measure';

    // ---- pull + unpack ----
    let n = 0;
    const pullSide = new Map();
    const pullVariant = (name, snap, img, kind) => ({
      name,
      k: 1,
      warm: 1,
      run: async () => {
        const ns = nsOf(`pull-${n++}`);
        const before = backend[snap]();
        const regMark = reg.mark();
        const logMark = ovl.mark();
        const cMark = ctrdMark();
        const t0 = now();
        const r = await ctrOk(ns, ['images', 'pull', '--plain-http', '--snapshotter', snap, ref(img)]);
        const ns_ = since(t0);
        const logEnd = ovl.mark();
        const apply = applied(cMark, ctrdMark());
        const unpack = /done: (\S+)/.exec(r.stdout);
        const t1 = now();
        await ctrOk(ns, ['images', 'rm', '--sync', ref(img)]);
        const rmNs = since(t1);
        const gone = await settle(snap, before, logEnd);
        const blobsGone = kind !== 'fresh' || (await waitFor(() => image.freshDigests.every((d) => !existsSync(blobPath(d))), 30_000)) !== undefined;
        if (gone === undefined || !blobsGone) throw new Error(`${name}: the snapshots (or blobs) of the pull were not removed after ctr images rm --sync`);
        const cleanup = rmNs + gone;
        await ctr(ns, ['namespaces', 'rm', ns]);
        namespaces.delete(ns);
        // The next pull starts with nothing of this one's left to write back.
        run('sync', []);
        if (!pullSide.has(name)) pullSide.set(name, []);
        pullSide.get(name).push({ unpack: unpack ? goDuration(unpack[1]) : NaN, apply: apply.layers === image.layers.length ? apply.ns : NaN, rm: rmNs, cleanup, blobs: reg.blobs(regMark), calls: snap === OVL ? ovl.calls(logMark, logEnd) : [] });
        return [ns_];
      },
    });
    const pullPairs = [
      [pullVariant('pull ovl, content present', OVL, 'app', 'present'), pullVariant('pull overlayfs, content present', OFS, 'app', 'present')],
      [pullVariant('pull ovl, fresh content', OVL, 'app-fresh', 'fresh'), pullVariant('pull overlayfs, fresh content', OFS, 'app-fresh', 'fresh')],
    ];
    const pulls = pullPairs.flat();
    // Two pulls of each per round (a b b a): half as many rounds for about as many pulls.
    const pullRounds = Math.max(1, Math.ceil(rounds / 2));
    log(`snapshotter: pull + unpack of ${(image.gzBytes / 1e6).toFixed(0)} MB in ${image.layers.length} layers, ovl vs overlayfs, content present and fresh; ${pullRounds} rounds of a b b a`);
    const pullSamples = await abba(pullPairs, pullRounds, log);

    // ---- container start ----
    const startSide = new Map();
    const startVariant = (name, snap, img) => ({
      name,
      k: quick ? 2 : 3,
      warm: 1,
      run: async (k) => {
        const out = [];
        for (let i = 0; i < k; i++) {
          const before = backend[snap]();
          const logMark = ovl.mark();
          const t0 = now();
          await ctrOk(runNs, ['run', '--rm', '--snapshotter', snap, ref(img), `start-${n++}`, 'true']);
          out.push(since(t0));
          const logEnd = ovl.mark();
          // The backend's Remove comes from containerd's GC, after ctr returned: waited for here.
          const gone = await settle(snap, before, logEnd, 30_000);
          if (!startSide.has(name)) startSide.set(name, []);
          startSide.get(name).push({ gone, calls: snap === OVL ? ovl.calls(logMark, logEnd) : [], gcCalls: snap === OVL ? ovl.calls(logEnd) : [] });
        }
        return out;
      },
    });
    const starts = [
      startVariant('start ovl, app', OVL, 'app'),
      startVariant('start overlayfs, app', OFS, 'app'),
      startVariant('start ovl, busybox', OVL, 'busybox'),
      startVariant('start overlayfs, busybox', OFS, 'busybox'),
    ];
    log(`snapshotter: container start (ctr run --rm … true), ovl vs overlayfs; ${rounds} rounds`);
    const startSamples = await interleave(starts, rounds, log);

    // ---- 200 layers ----
    const deepRounds = Math.max(2, Math.ceil(rounds / 2));
    const deepSide = new Map();
    const deepVariant = (name, snap) => ({
      name,
      k: 1,
      warm: 0,
      run: async (k) => {
        if (k === 0) return [];
        const ns = nsOf(`deep-${n++}`);
        const before = backend[snap]();
        const side = { snap };
        if (!deepSide.has(name)) deepSide.set(name, []);
        deepSide.get(name).push(side);
        const logMark = ovl.mark();
        const cMark = ctrdMark();
        let t = now();
        const pulled = await ctr(ns, ['images', 'pull', '--plain-http', '--snapshotter', snap, ref('deep')]);
        side.pull = since(t);
        const apply = applied(cMark, ctrdMark());
        side.apply = apply.layers === 200 ? apply.ns : NaN;
        if (pulled.status !== 0) {
          side.error = `ctr images pull: ${pulled.stderr.trim().split('\n').at(-1)}`;
        } else {
          side.unpack = goDuration(/done: (\S+)/.exec(pulled.stdout)?.[1] ?? '');
          side.pullCalls = snap === OVL ? ovl.calls(logMark) : [];
          t = now();
          const r = await ctr(ns, ['run', '--rm', '--snapshotter', snap, ref('deep'), `deep-${n++}`, 'sh', '-c', DEEP_CHECK]);
          side.run = since(t);
          if (r.status !== 0) side.error = `ctr run: ${r.stderr.trim().split('\n').at(-1)}`;
          else if (r.stdout.replace(/\s+/g, ' ').trim() !== '1 199 199') side.error = `ctr run: unexpected output ${JSON.stringify(r.stdout)}`;
          else side.ok = true;
        }
        t = now();
        const logEnd = ovl.mark();
        await ctr(ns, ['images', 'rm', '--sync', ref('deep')]);
        side.gone = (await settle(snap, before, logEnd, 120_000)) !== undefined;
        side.cleanup = since(t);
        await ctr(ns, ['namespaces', 'rm', ns]);
        namespaces.delete(ns);
        run('sync', []);
        return [side.pull + (side.run ?? 0)];
      },
    });
    const deeps = [deepVariant('200 layers ovl', OVL), deepVariant('200 layers overlayfs', OFS)];
    log(`snapshotter: a 200-layer image: pull + ctr run --rm + removal, ovl and overlayfs; ${deepRounds} rounds`);
    await interleave(deeps, deepRounds, log);

    // ---- the calls alone, over gRPC ----
    const direct = await startOvl(dir, 'ovl-direct');
    stops.push(() => direct.stop());
    const callsNs = nsOf('calls');
    await ctrOk(callsNs, ['leases', 'create', '--id', 'bench', '--expires', '0']);
    const viaCtrd = await snapshotsClient(cfg.address, { 'containerd-namespace': callsNs, 'containerd-lease': 'bench' });
    const toDirect = await snapshotsClient(direct.socket);
    const METHODS = ['Prepare', 'Mounts', 'Commit', 'Stat', 'Remove'];
    const callSide = new Map();
    const callVariant = (name, client, snapshotter, logOf) => {
      let i = 0;
      let parent;
      return {
        name,
        k: 10,
        warm: 3,
        run: async (k) => {
          if (!parent) {
            parent = `${name}-base`;
            await client.call('Prepare', { snapshotter, key: `${parent}-a`, parent: '' });
            await client.call('Commit', { snapshotter, name: parent, key: `${parent}-a` });
          }
          const out = [];
          for (let u = 0; u < k; u++, i++) {
            const t = {};
            const timed = async (m, req) => {
              const t0 = now();
              await client.call(m, { snapshotter, ...req });
              t[m] = since(t0);
            };
            const mark = logOf?.mark();
            await timed('Prepare', { key: `a${i}`, parent });
            await timed('Mounts', { key: `a${i}` });
            await timed('Commit', { name: `c${i}`, key: `a${i}` });
            await timed('Stat', { key: `c${i}` });
            await timed('Remove', { key: `c${i}` });
            if (logOf) t.server = logOf.calls(mark);
            if (!callSide.has(name)) callSide.set(name, []);
            callSide.get(name).push(t);
            out.push(METHODS.reduce((s, m) => s + t[m], 0));
          }
          return out;
        },
      };
    };
    const callVariants = [
      callVariant('overlayfs via containerd', viaCtrd, OFS),
      callVariant('ovl via containerd', viaCtrd, OVL),
      callVariant('ovl directly', toDirect, '', direct),
    ];
    log(`snapshotter: the calls alone over gRPC (Prepare, Mounts, Commit, Stat, Remove); ${rounds} rounds`);
    const callSamples = await interleave(callVariants, rounds, log);
    viaCtrd.close();
    toDirect.close();

    // ---- results ----
    const sum = (name, samples) => summarize(samples.get(name));
    const pair = (samples, ovlName, ofsName) => {
      const a = sum(ovlName, samples);
      const b = sum(ofsName, samples);
      return { ovl: a.median, overlayfs: b.median, ratio: ratio(a, b), ovlRounds: a.roundMedians, overlayfsRounds: b.roundMedians };
    };
    const med = (xs) => median(xs.filter((x) => Number.isFinite(x)));
    const perCall = (runs) => {
      // The calls of one run, summed by method; the median over runs of each method's count and ms.
      const methods = [...new Set(runs.flatMap((r) => r.map((c) => c.method)))];
      return methods.map((method) => {
        const per = runs.map((r) => r.filter((c) => c.method === method));
        return {
          method,
          calls: med(per.map((p) => p.length)),
          ms: med(per.map((p) => p.reduce((s, c) => s + c.ms, 0))),
          msPerCall: med(per.flat().map((c) => c.ms)),
          errors: per.flat().filter((c) => c.error).length,
        };
      });
    };
    const rows = [];
    for (const kind of ['content present', 'fresh content']) {
      const p = pair(pullSamples, `pull ovl, ${kind}`, `pull overlayfs, ${kind}`);
      // The side measures of each pull after the warm-up, as rounds of two (a b b a).
      const byRound = (name) => {
        const xs = pullSide.get(name).slice(1);
        return Array.from({ length: Math.ceil(xs.length / 2) }, (_, r) => xs.slice(2 * r, 2 * r + 2));
      };
      const so = byRound(`pull ovl, ${kind}`);
      const sf = byRound(`pull overlayfs, ${kind}`);
      /** A side measure as a row: medians over every pull, and the median of per-round ratios of round means. */
      const sideRow = (name, f, extra = {}) => {
        const mean = (round) => round.reduce((a, x) => a + f(x), 0) / round.length;
        return { name, ovl: med(so.flat().map(f)), overlayfs: med(sf.flat().map(f)), ratio: med(so.map((round, i) => mean(round) / (sf[i] ? mean(sf[i]) : NaN))), ...extra };
      };
      rows.push({ name: `pull + unpack, ${kind}`, ...p });
      rows.push(sideRow(`  unpack alone (ctr's "done:")`, (x) => x.unpack));
      rows.push(sideRow(`    of which the differ's applies`, (x) => x.apply));
      rows.push(sideRow(`    the rest (snapshotter calls, unpacker)`, (x) => x.unpack - x.apply));
      rows.push(sideRow(`  removal (images rm --sync, snapshots gone)`, (x) => x.cleanup, { untimed: true }));
    }
    for (const img of ['app', 'busybox']) {
      const p = pair(startSamples, `start ovl, ${img}`, `start overlayfs, ${img}`);
      rows.push({ name: `container start, ${img === 'app' ? `the ${image.layers.length}-layer image` : 'busybox (1 layer)'}`, ...p });
      const go = startSide.get(`start ovl, ${img}`).slice(1);
      const gf = startSide.get(`start overlayfs, ${img}`).slice(1);
      rows.push({ name: '  snapshot gone after ctr exit (GC)', ovl: med(go.map((s) => s.gone)), overlayfs: med(gf.map((s) => s.gone)), ratio: med(go.map((s) => s.gone)) / med(gf.map((s) => s.gone)), untimed: true });
    }
    const deepRows = deeps.map((v) => {
      const s = deepSide.get(v.name);
      return {
        name: v.name,
        ok: s.every((x) => x.ok),
        errors: [...new Set(s.filter((x) => x.error).map((x) => x.error))],
        pull: med(s.map((x) => x.pull)),
        unpack: med(s.map((x) => x.unpack)),
        apply: med(s.map((x) => x.apply)),
        run: med(s.map((x) => x.run)),
        cleanup: med(s.map((x) => x.cleanup)),
        gone: s.every((x) => x.gone),
        calls: v.name.includes(OVL) ? perCall(s.filter((x) => x.pullCalls).map((x) => x.pullCalls)) : [],
      };
    });
    const [cOfs, cVia, cDirect] = callVariants.map((v) => callSide.get(v.name).slice(callVariants[0].warm));
    const callRows = METHODS.map((m) => ({
      method: m,
      overlayfs: med(cOfs.map((t) => t[m])),
      ovlVia: med(cVia.map((t) => t[m])),
      ovlDirect: med(cDirect.map((t) => t[m])),
      ovlServer: med(cDirect.map((t) => t.server.find((c) => c.method === m)?.ms * 1e6)),
    }));
    callRows.push({
      method: 'all five',
      overlayfs: summarize(callSamples.get('overlayfs via containerd')).median,
      ovlVia: summarize(callSamples.get('ovl via containerd')).median,
      ovlDirect: summarize(callSamples.get('ovl directly')).median,
      ovlServer: med(cDirect.map((t) => t.server.reduce((s, c) => s + c.ms * 1e6, 0))),
    });
    let fsType;
    try {
      fsType = run('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir]).trim();
    } catch {
      fsType = run('stat', ['-f', '-c', '%T', dir]).trim();
    }
    results.snapshotter = rows;
    results.snapshotterDeep = deepRows;
    results.snapshotterCalls = {
      pull: perCall(pullSide.get('pull ovl, content present').slice(1).map((s) => s.calls)),
      start: perCall(startSide.get('start ovl, app').slice(1).map((s) => s.calls)),
      startGc: perCall(startSide.get('start ovl, app').slice(1).map((s) => s.gcCalls)),
      direct: callRows,
    };
    results.config.snapshotter = {
      layers: image.layers,
      gzBytes: image.gzBytes,
      fs: process.env.OVERLAYFS_BENCH_SNAPSHOTTER_TMPFS ? `a tmpfs (OVERLAYFS_BENCH_SNAPSHOTTER_TMPFS)` : `${os.tmpdir()} (${fsType})`,
      rounds,
      pullRounds,
      deepRounds,
      starts: starts[0].k,
      blobs: Object.fromEntries(pulls.map((v) => [v.name, pullSide.get(v.name).slice(1).map((s) => s.blobs)[0]])),
      containerd: run('containerd', ['--version']).trim(),
    };
  } catch (e) {
    if (stage !== 'setup') throw e;
    const why = e.message.split('\n')[0];
    log(`snapshotter: skipped: ${e.message}`);
    results.notes.push(`snapshotter section skipped: ${why}`);
  } finally {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        log(`snapshotter: stopping: ${e.message}`);
      }
    }
    const keepLogs = process.env.OVERLAYFS_BENCH_SNAPSHOTTER_LOGS;
    if (keepLogs) {
      mkdirSync(keepLogs, { recursive: true });
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.log'))) copyFileSync(join(dir, f), join(keepLogs, f));
      if (existsSync(join(work, 'registry', 'registry.log'))) copyFileSync(join(work, 'registry', 'registry.log'), join(keepLogs, 'registry.log'));
    }
    cleanupSync();
    emergency.delete(cleanupSync);
    rmSync(work, { recursive: true, force: true });
    const left = cgroupRoots().flatMap((r) => {
      try {
        return readdirSync(r).filter((x) => x.startsWith(prefix)).map((x) => join(r, x));
      } catch {
        return [];
      }
    });
    if (left.length > 0) results.notes.push(`snapshotter: cgroups left: ${left.join(' ')}`);
    if (existsSync(dir)) results.notes.push(`snapshotter: ${dir} left (mounts under it: ${mountsUnder(dir).join(' ')})`);
  }
}

/** The section's lines of the text report (none when it did not run). */
export function reportSnapshotter(results) {
  const rows = results.snapshotter;
  if (!rows?.length) return [];
  const c = results.config.snapshotter;
  const lines = [];
  const ms = (ns) => (Number.isFinite(ns) ? `${(ns / 1e6).toFixed(1)} ms` : '—');
  lines.push(
    `snapshotter: ovl (ovl snapshotter, a containerd proxy plugin) vs containerd's overlayfs, one ${c.containerd.split(' ').slice(0, 3).join(' ')}, stores on ${c.fs};` +
      ` an image of ${(c.gzBytes / 1e6).toFixed(0)} MB of gzip in ${c.layers.length} layers (${c.layers.map((l) => `${l.name} ${(l.gzBytes / 1e6).toFixed(1)} MB`).join(', ')}); pulls: ${c.pullRounds} rounds of a b b a (ovl, overlayfs, overlayfs, ovl; the next round the other way), starts: ${c.rounds} rounds of ${c.starts}`,
  );
  lines.push(table(['ctr', 'ovl', 'overlayfs', '× overlayfs'], rows.map((r) => [r.name, fmtTime(r.ovl), fmtTime(r.overlayfs), fmtRatio(r.ratio)])));
  const b = c.blobs;
  const blobNote = (name) => (b[name] ? `${b[name].gets} blob GETs, ${(b[name].bytes / 1e6).toFixed(1)} MB` : '?');
  lines.push(
    `(each pull into a fresh containerd namespace; content present: ${blobNote('pull ovl, content present')} (ovl), ${blobNote('pull overlayfs, content present')} (overlayfs); fresh: ${blobNote('pull ovl, fresh content')}, ${blobNote('pull overlayfs, fresh content')};` +
      ` removal and GC lines are not part of the timed ctr command)`,
  );
  for (const d of results.snapshotterDeep ?? []) {
    lines.push(
      `${d.name}: ${d.ok ? 'works' : `FAILS (${d.errors.join('; ')})`}; pull ${fmtTime(d.pull)} (unpack ${fmtTime(d.unpack)}, of which the differ's 200 applies ${fmtTime(d.apply)}), ctr run --rm ${fmtTime(d.run)}, images rm --sync until the snapshots are gone ${fmtTime(d.cleanup)}${d.gone ? '' : ' (NOT all removed)'} (median of ${c.deepRounds})`,
    );
  }
  const calls = results.snapshotterCalls;
  const callTable = (what, list) => {
    if (!list?.length) return;
    lines.push(what);
    lines.push(table(['call', 'calls', 'ms in ovl', 'ms per call'], list.map((x) => [x.method, x.calls, x.ms.toFixed(1), x.msPerCall.toFixed(2)])));
  };
  callTable('ovl\'s own log (time inside the snapshotter), per pull (content present), median over pulls:', calls?.pull);
  const deepOvl = (results.snapshotterDeep ?? []).find((d) => d.calls?.length);
  if (deepOvl) callTable('… per pull of the 200-layer image:', deepOvl.calls);
  callTable('… per container start (app), within ctr run:', calls?.start);
  callTable('… after ctr run returned (containerd\'s GC removing the snapshot):', calls?.startGc);
  if (calls?.direct) {
    lines.push('the calls alone, over gRPC from the bench (Prepare on a committed parent, Mounts, Commit, Stat, Remove of the committed), median per call:');
    lines.push(
      table(
        ['call', 'overlayfs via containerd', 'ovl via containerd', 'ovl directly', 'in ovl (its log)'],
        calls.direct.map((r) => [r.method, ms(r.overlayfs), ms(r.ovlVia), ms(r.ovlDirect), ms(r.ovlServer)]),
      ),
    );
    lines.push('(through containerd a Remove only marks the snapshot: the backend\'s is done by the GC after; "ovl directly": a second ovl process with a store of its own)');
  }
  lines.push('');
  return lines;
}

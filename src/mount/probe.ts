/**
 * probe(): one report of what this kernel's overlay can do, computed once per process. Every
 * feature is detected by asking the kernel (fsconfig's "Unknown parameter" vs "Bad value", a
 * trial CMD_CREATE_EXCL without fsmount), never from the version number. Nothing is mounted.
 * What it cannot ask (without CAP_SYS_ADMIN, fsopen fails before any question reaches overlay)
 * it reports as unknown with the reason (`unknown`), never as absent.
 * The questions go to the kernel as one batch of steps (two with statmount), each failure
 * recorded as an answer rather than ending the batch.
 */
import { release } from 'node:os';
import { AT, MOUNT_ATTR, O, OPEN_TREE, STATMOUNT, STATX } from '../sys/constants.js';
import { isSystemError } from '../sys/errors.js';
import { runAsync, runSync, steps, type Task } from '../sys/io.js';
import type { StatxResult } from '../sys/native-types.js';
import type { Step } from '../sys/steps.js';
import { isInitialUidMap } from '../spec/shape.js';

export interface ModuleDefaults {
  /** /sys/module/overlay/parameters/redirect_dir (Y/N) */
  redirectDir?: boolean;
  redirectAlwaysFollow?: boolean;
  redirectMax?: number;
  index?: boolean;
  nfsExport?: boolean;
  metacopy?: boolean;
  xinoAuto?: boolean;
}

/**
 * A feature the probe may be unable to test, named by its field of Capabilities (`fsync` stands
 * for `fsync` and `fsyncModes`).
 */
export type UntestedFeature =
  | 'overlay'
  | 'fsContextParser'
  | 'lowerdirPlus'
  | 'datadirPlus'
  | 'layersByFd'
  | 'createExcl'
  | 'userxattr'
  | 'volatile'
  | 'fsync'
  | 'uuidModes'
  | 'verity'
  | 'overrideCreds';

export interface Capabilities {
  /** uname -r, for reports only; nothing is decided from it. */
  kernel: string;
  /** fsopen(2) exists (Linux 5.2). */
  newMountApi: boolean;
  /** The overlay filesystem is available (built in or loadable). */
  overlay: boolean;
  /** This process may create overlay mounts (CAP_SYS_ADMIN over its mount namespace). */
  canMount: boolean;
  /** Overlay validates fsconfig keys itself (Linux 6.5); without it the key probes below mean nothing. */
  fsContextParser: boolean;
  lowerdirPlus: boolean;
  datadirPlus: boolean;
  /** FSCONFIG_SET_FD accepted for layer keys (Linux 6.13). */
  layersByFd: boolean;
  /** FSCONFIG_CMD_CREATE_EXCL (Linux 6.6). */
  createExcl: boolean;
  userxattr: boolean;
  volatile: boolean;
  /** The fsync= option and the values this kernel accepts. */
  fsync: boolean;
  fsyncModes: string[];
  /** uuid= values this kernel accepts. */
  uuidModes: string[];
  verity: boolean;
  overrideCreds: boolean;
  /** statmount(2) (Linux 6.8) and STATMOUNT_OPT_ARRAY. */
  statmount: boolean;
  statmountOptionArray: boolean;
  /** statx(STATX_MNT_ID_UNIQUE) (Linux 6.8). */
  mountIdUnique: boolean;
  moduleDefaults: ModuleDefaults;
  root: boolean;
  /** Running inside a user namespace other than the initial one (rootless). */
  userNamespace: boolean;
  /** The page size: mount(2) reads at most this many bytes of option data, the last one NUL. */
  pageSize: number;
  /**
   * The features the probe could not test, each with the reason in words, e.g.
   * `{ lowerdirPlus: 'fsopen(overlay) needs CAP_SYS_ADMIN: EPERM', ... }` for a process without
   * CAP_SYS_ADMIN, whose fsopen(2) fails before any question can be asked. A feature named here
   * is unknown, not absent: its boolean is false (and its list empty) only because it was not
   * seen, and plan() plans as if the kernel had it, with a warning. probe() always sets this
   * (`{}` when every feature was tested); a report made by hand may leave it out, which means
   * the same.
   */
  unknown?: Partial<Record<UntestedFeature, string>>;
}

let cached: Capabilities | undefined;
let pending: Promise<Capabilities> | undefined;

/** The capability report, probed once per process (`{ refresh: true }` probes again). */
export async function probe(options: { refresh?: boolean } = {}): Promise<Capabilities> {
  if (cached && !options.refresh) return cached;
  if (!pending || options.refresh) {
    const run = runAsync(probeTask()).then((caps) => (cached = caps));
    pending = run.finally(() => {
      if (pending === run) pending = undefined;
    });
    return run;
  }
  return pending;
}

/** probe() on the calling thread. */
export function probeSync(options: { refresh?: boolean } = {}): Capabilities {
  if (!cached || options.refresh) cached = runSync(probeTask());
  return cached;
}

/** The cached report, or a probe now (once per process). */
export function* capabilitiesTask(): Task<Capabilities> {
  return (cached ??= yield* probeTask());
}

/** The report probe() last made in this process, without probing. */
export function probedCapabilities(): Capabilities | undefined {
  return cached;
}

const PARAMS = ['redirect_dir', 'redirect_always_follow', 'index', 'nfs_export', 'metacopy', 'xino_auto', 'redirect_max'] as const;
const YES_NO: ReadonlyArray<[(typeof PARAMS)[number], Exclude<keyof ModuleDefaults, 'redirectMax'>]> = [
  ['redirect_dir', 'redirectDir'],
  ['redirect_always_follow', 'redirectAlwaysFollow'],
  ['index', 'index'],
  ['nfs_export', 'nfsExport'],
  ['metacopy', 'metacopy'],
  ['xino_auto', 'xinoAuto'],
];

/** The module parameters from /sys/module/overlay/parameters, read as steps of the probe's batch. */
function moduleDefaults(read: (name: string) => string | undefined): ModuleDefaults {
  const out: ModuleDefaults = {};
  for (const [name, key] of YES_NO) {
    const v = read(name);
    if (v !== undefined) out[key] = v === 'Y';
  }
  const max = read('redirect_max');
  if (max !== undefined && /^\d+$/.test(max)) out.redirectMax = Number(max);
  return out;
}

/** AT_PAGESZ from the ELF auxiliary vector (Node has no sysconf). */
function pageSizeOf(auxv: Buffer | undefined): number {
  for (let i = 0; auxv !== undefined && i + 16 <= auxv.length; i += 16) {
    const type = Number(auxv.readBigUInt64LE(i));
    if (type === 6) return Number(auxv.readBigUInt64LE(i + 8));
    if (type === 0) break;
  }
  return 4096;
}

/** The features asked of an overlay fs context: unknown together when there is none to ask. */
const FS_CONTEXT_FEATURES: readonly UntestedFeature[] = [
  'fsContextParser',
  'lowerdirPlus',
  'datadirPlus',
  'layersByFd',
  'createExcl',
  'userxattr',
  'volatile',
  'fsync',
  'uuidModes',
  'verity',
  'overrideCreds',
];

/** A failed step in words: its code and what the kernel said. */
function errorWords(result: unknown): string {
  if (!isSystemError(result)) return result instanceof Error ? result.message : String(result);
  const said = (result.kernelMessages ?? []).map((m) => m.replace(/^[a-z] /, '')).join('; ');
  return said ? `${result.code} (${said})` : result.code;
}

type KeyAnswer = 'ok' | 'unknown' | 'bad' | 'other';

/** How the kernel answered a recorded fsconfig step. */
function answer(result: unknown): KeyAnswer {
  if (!(result instanceof Error)) return 'ok';
  const messages = isSystemError(result) ? (result.kernelMessages ?? []).join('\n') : '';
  if (messages.includes('Unknown parameter')) return 'unknown';
  if (messages.includes('Bad value') || messages.includes('Unexpected value')) return 'bad';
  return 'other';
}

// The questions, in one batch. Every probe uses '/' as its directory: it exists everywhere, is
// short (fsconfig values are capped at 255 bytes) and needs no temp dir. Layers are only
// resolved here, never mounted.
const FS = 1;
const Q = {
  statx: 0,
  fsopen: FS,
  bogus: 2,
  lowerdirPlus: 3,
  userxattr: 4,
  volatile: 5,
  overrideCreds: 6,
  verity: 7,
  uuid: 8, // 8..11
  fsync: 12, // 12..14
  root: 15,
  byFd: 16,
  datadirPlus: 17,
  trial: 18,
  createExcl: 19,
  uidMap: 20,
  auxv: 21,
  filesystems: 22,
  params: 23, // one per PARAMS entry
} as const;
const UUID_MODES = ['off', 'null', 'auto', 'on'] as const;
const FSYNC_MODES = ['volatile', 'auto', 'strict'] as const;

function probeSteps(): Step[] {
  const r = { recordError: true } as const;
  const list: Step[] = [
    { op: 'statx', path: '/', mask: STATX.MNT_ID_UNIQUE, ...r },
    { op: 'fsopen', fsname: 'overlay', ...r },
    { op: 'fsconfigSetFlag', fs: FS, key: 'overlayfs-probe-no-such-key', ...r },
    { op: 'fsconfigSetString', fs: FS, key: 'lowerdir+', value: '/', ...r },
    { op: 'fsconfigSetFlag', fs: FS, key: 'userxattr', ...r },
    { op: 'fsconfigSetFlag', fs: FS, key: 'volatile', ...r },
    { op: 'fsconfigSetFlag', fs: FS, key: 'override_creds', ...r },
    { op: 'fsconfigSetString', fs: FS, key: 'verity', value: 'off', ...r },
    ...UUID_MODES.map((value): Step => ({ op: 'fsconfigSetString', fs: FS, key: 'uuid', value, ...r })),
    ...FSYNC_MODES.map((value): Step => ({ op: 'fsconfigSetString', fs: FS, key: 'fsync', value, ...r })),
    { op: 'open', path: '/', flags: O.PATH | O.DIRECTORY, ...r },
    { op: 'fsconfigSetFd', fs: FS, key: 'lowerdir+', fd: Q.root, ...r },
    { op: 'fsconfigSetString', fs: FS, key: 'datadir+', value: '/', ...r },
    // CMD_CREATE_EXCL on an empty context: a kernel that has it tries to create and fails for
    // want of layers (EINVAL); an older one does not know the command (EOPNOTSUPP). Nothing is
    // created either way.
    { op: 'fsopen', fsname: 'overlay', ...r },
    { op: 'fsconfigCreateExcl', fs: Q.trial, ...r },
    { op: 'readFile', path: '/proc/self/uid_map', ...r },
    { op: 'readFile', path: '/proc/self/auxv', ...r },
    // Whether overlay is registered, for when fsopen cannot say (built in, or its module loaded).
    { op: 'readFile', path: '/proc/filesystems', ...r },
    ...PARAMS.map((p): Step => ({ op: 'readFile', path: `/sys/module/overlay/parameters/${p}`, ...r })),
  ];
  return list;
}

function* probeTask(): Task<Capabilities> {
  const { results } = yield* steps(probeSteps());
  const text = (i: number) => (Buffer.isBuffer(results[i]) ? (results[i] as Buffer).toString('utf8') : undefined);
  const uidMap = text(Q.uidMap);
  const caps: Capabilities = {
    kernel: release(),
    newMountApi: false,
    overlay: false,
    canMount: false,
    fsContextParser: false,
    lowerdirPlus: false,
    datadirPlus: false,
    layersByFd: false,
    createExcl: false,
    userxattr: false,
    volatile: false,
    fsync: false,
    fsyncModes: [],
    uuidModes: [],
    verity: false,
    overrideCreds: false,
    statmount: false,
    statmountOptionArray: false,
    mountIdUnique: false,
    moduleDefaults: moduleDefaults((name) => text(Q.params + PARAMS.indexOf(name as (typeof PARAMS)[number]))?.trim()),
    root: process.geteuid?.() === 0,
    userNamespace: uidMap !== undefined && !isInitialUidMap(uidMap),
    pageSize: pageSizeOf(Buffer.isBuffer(results[Q.auxv]) ? (results[Q.auxv] as Buffer) : undefined),
  };

  const st = results[Q.statx];
  if (!(st instanceof Error)) {
    const s = st as StatxResult;
    caps.mountIdUnique = s.mountIdUnique === true;
    if (caps.mountIdUnique && s.mountId !== undefined) {
      const sm = (yield* steps([{ op: 'statmount', mountId: s.mountId, mask: STATMOUNT.SB_BASIC | STATMOUNT.SUPPORTED_MASK, recordError: true }])).results[0];
      if (!(sm instanceof Error)) {
        caps.statmount = true;
        caps.statmountOptionArray = (((sm as { supportedMask?: number }).supportedMask ?? 0) & STATMOUNT.OPT_ARRAY) !== 0;
      }
    }
  }

  const unknown: Partial<Record<UntestedFeature, string>> = {};
  caps.unknown = unknown;
  const untested = (features: readonly UntestedFeature[], reason: string) => {
    for (const f of features) unknown[f] ??= reason;
  };
  // Listed once built in or loaded; a module not loaded yet is not, and fsopen would load it.
  const registered = /^nodev\toverlay$/m.test(text(Q.filesystems) ?? '');

  const opened = results[Q.fsopen];
  if (opened instanceof Error) {
    const code = isSystemError(opened) ? opened.code : opened.message;
    caps.newMountApi = code !== 'ENOSYS';
    caps.overlay = registered;
    // ENODEV: fsopen looked overlay up (and tried its module): it is not there.
    if (code === 'ENODEV') return caps;
    const unlisted = '/proc/filesystems does not list overlay (a module not loaded yet?)';
    // ENOSYS: before 5.2, older than every feature below, so they are absent, not unknown.
    if (code === 'ENOSYS') {
      if (!registered) untested(['overlay'], `no fsopen(2) to ask (before Linux 5.2) and ${unlisted}`);
      return caps;
    }
    // Anything else (EPERM without CAP_SYS_ADMIN) comes before the kernel looks at the name.
    const reason = code === 'EPERM' ? 'fsopen(overlay) needs CAP_SYS_ADMIN: EPERM' : `fsopen(overlay) failed: ${code}`;
    if (!registered) untested(['overlay'], `${reason}, and ${unlisted}`);
    untested(FS_CONTEXT_FEATURES, reason);
    return caps;
  }
  caps.newMountApi = caps.overlay = caps.canMount = true;
  // The command is the VFS's (6.6), not overlay's: its answer needs no parser.
  const trial = results[Q.trial];
  const excl = results[Q.createExcl];
  if (trial instanceof Error) untested(['createExcl'], `fsopen(overlay) for the trial create failed: ${errorWords(trial)}`);
  else caps.createExcl = !(excl instanceof Error) || !(isSystemError(excl) && (excl.code === 'EOPNOTSUPP' || excl.code === 'ENOTSUP'));

  const bogus = answer(results[Q.bogus]);
  caps.fsContextParser = bogus === 'unknown';
  if (bogus !== 'ok' && bogus !== 'unknown') {
    const reason = `a made-up fsconfig key failed without "Unknown parameter": ${errorWords(results[Q.bogus])}`;
    untested(FS_CONTEXT_FEATURES.filter((f) => f !== 'createExcl'), reason);
    return caps;
  }
  if (!caps.fsContextParser) {
    // Before 6.5 fsconfig took any key, so asking for one says nothing. What came with the
    // parser or after it (lowerdir+, verity, fsync=, ...) is absent; these two are older.
    untested(['userxattr', 'volatile'], 'overlay has no fs_context parser here (before Linux 6.5): fsconfig accepts any key, so asking for one says nothing');
    return caps;
  }
  const known = (i: number) => answer(results[i]) !== 'unknown';
  const lowerdirPlus = answer(results[Q.lowerdirPlus]);
  caps.lowerdirPlus = lowerdirPlus === 'ok';
  caps.userxattr = known(Q.userxattr);
  caps.volatile = known(Q.volatile);
  caps.overrideCreds = known(Q.overrideCreds);
  caps.verity = known(Q.verity);
  caps.uuidModes = UUID_MODES.filter((_, i) => answer(results[Q.uuid + i]) === 'ok');
  caps.fsyncModes = FSYNC_MODES.filter((_, i) => answer(results[Q.fsync + i]) === 'ok');
  caps.fsync = caps.fsyncModes.length > 0;
  if (lowerdirPlus === 'other') {
    untested(['lowerdirPlus', 'datadirPlus', 'layersByFd'], `fsconfig lowerdir+ '/' failed: ${errorWords(results[Q.lowerdirPlus])}`);
  }
  if (caps.lowerdirPlus) {
    const byFd = answer(results[Q.byFd]);
    if (results[Q.root] instanceof Error) untested(['layersByFd'], `open('/') for the fd probe failed: ${errorWords(results[Q.root])}`);
    else if (byFd === 'other') untested(['layersByFd'], `fsconfig lowerdir+ by fd failed: ${errorWords(results[Q.byFd])}`);
    caps.layersByFd = byFd === 'ok';
    caps.datadirPlus = known(Q.datadirPlus);
  }
  return caps;
}

/** Whether idmapped mounts work on the filesystem of one path (see probeIdmap()). */
export interface IdmapSupport {
  path: string;
  /** The filesystem's name where known (ext4, xfs, btrfs, tmpfs, overlay, ...), else its f_type in hex. */
  filesystem?: string;
  idmap: boolean;
  /** Why not: the errno code of the call that refused (EINVAL: this filesystem cannot be idmapped here). */
  error?: string;
}

const FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0x2fc12fc1, 'zfs'],
  [0xf2f52010, 'f2fs'],
  [0x4d44, 'vfat'],
  [0x5346544e, 'ntfs'],
  [0xca451a4e, 'bcachefs'],
  [0x9fa0, 'proc'],
]);

function* probeIdmapTask(paths: readonly string[]): Task<IdmapSupport[]> {
  // The trial itself, per path: a detached clone idmapped through a namespace made for the
  // question, closed with the batch (never attached anywhere).
  const PER = 3;
  const { results } = yield* steps([
    { op: 'userns', uidMap: '0 100000 1\n', gidMap: '0 100000 1\n', recordError: true },
    ...paths.flatMap((path, i): Step[] => [
      { op: 'statfs', path, recordError: true },
      { op: 'openTree', path, flags: OPEN_TREE.CLONE, recordError: true },
      { op: 'mountSetattr', dirfd: 2 + i * PER, path: '', flags: AT.EMPTY_PATH, attrSet: MOUNT_ATTR.IDMAP, userns: 0, recordError: true },
    ]),
  ]);
  const ns = results[0];
  return paths.map((path, i) => {
    const [fs, clone, set] = results.slice(1 + i * PER, 1 + (i + 1) * PER);
    const out: IdmapSupport = { path, idmap: false };
    if (typeof fs === 'number') out.filesystem = FILESYSTEMS.get(fs) ?? `0x${fs.toString(16)}`;
    const refused = [ns, fs, clone, set].find((r) => r instanceof Error) as NodeJS.ErrnoException | undefined;
    if (refused) out.error = refused.code ?? refused.message;
    else out.idmap = true;
    return out;
  });
}

/**
 * Whether idmapped layers (the spec's `idmap`) work for the filesystems of `paths`: for each, a
 * detached clone is idmapped and dropped, in one batch. Filesystems differ by kernel (tmpfs since
 * 6.3; overlay, NFS and FUSE not at all), so this asks rather than reads a version.
 */
export function probeIdmap(paths: readonly string[]): Promise<IdmapSupport[]> {
  return runAsync(probeIdmapTask(paths));
}

export function probeIdmapSync(paths: readonly string[]): IdmapSupport[] {
  return runSync(probeIdmapTask(paths));
}

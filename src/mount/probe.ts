/**
 * probe(): one report of what this kernel's overlay can do, computed once per process. Every
 * feature is detected by asking the kernel (fsconfig's "Unknown parameter" vs "Bad value", a
 * trial CMD_CREATE_EXCL without fsmount), never from the version number. Nothing is mounted.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { O, STATMOUNT, STATX } from './constants.js';
import { isSystemError } from './errors.js';
import type { FdHandle } from './native-types.js';
import { openSync } from './sys/fd.js';
import { fsconfigCreateExclSync, fsconfigSetFdSync, fsconfigSetFlagSync, fsconfigSetStringSync, fsopenSync } from './sys/mount-api.js';
import { statmountSync } from './sys/mount-info.js';
import { statxSync } from './sys/node.js';

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
}

let cached: Capabilities | undefined;

/** The capability report, probed once per process (`{ refresh: true }` probes again). */
export function probe(options: { refresh?: boolean } = {}): Capabilities {
  if (!cached || options.refresh) cached = runProbe();
  return cached;
}

function readParam(name: string): string | undefined {
  try {
    return readFileSync(`/sys/module/overlay/parameters/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function moduleDefaults(): ModuleDefaults {
  const out: ModuleDefaults = {};
  const yn = (name: string, key: Exclude<keyof ModuleDefaults, 'redirectMax'>) => {
    const v = readParam(name);
    if (v !== undefined) out[key] = v === 'Y';
  };
  yn('redirect_dir', 'redirectDir');
  yn('redirect_always_follow', 'redirectAlwaysFollow');
  yn('index', 'index');
  yn('nfs_export', 'nfsExport');
  yn('metacopy', 'metacopy');
  yn('xino_auto', 'xinoAuto');
  const max = readParam('redirect_max');
  if (max !== undefined && /^\d+$/.test(max)) out.redirectMax = Number(max);
  return out;
}

/** Not the initial user namespace: its uid_map is not the identity map of every uid. */
export function inUserNamespace(): boolean {
  try {
    const map = readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/);
    return !(map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/** AT_PAGESZ from the ELF auxiliary vector (Node has no sysconf). */
export function pageSize(): number {
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let i = 0; i + 16 <= auxv.length; i += 16) {
      const type = Number(auxv.readBigUInt64LE(i));
      if (type === 6) return Number(auxv.readBigUInt64LE(i + 8));
      if (type === 0) break;
    }
  } catch {
    /* fall through */
  }
  return 4096;
}

type KeyAnswer = 'ok' | 'unknown' | 'bad' | 'other';

function answer(fn: () => void): KeyAnswer {
  try {
    fn();
    return 'ok';
  } catch (e) {
    const messages = isSystemError(e) ? (e.kernelMessages ?? []).join('\n') : '';
    if (messages.includes('Unknown parameter')) return 'unknown';
    if (messages.includes('Bad value') || messages.includes('Unexpected value')) return 'bad';
    return 'other';
  }
}

function runProbe(): Capabilities {
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
    moduleDefaults: moduleDefaults(),
    root: process.geteuid?.() === 0,
    userNamespace: inUserNamespace(),
    pageSize: pageSize(),
  };

  try {
    const st = statxSync('/', { mask: STATX.MNT_ID_UNIQUE });
    caps.mountIdUnique = st.mountIdUnique === true;
    if (caps.mountIdUnique && st.mountId !== undefined) {
      const sm = statmountSync(st.mountId, STATMOUNT.SB_BASIC | STATMOUNT.SUPPORTED_MASK);
      caps.statmount = true;
      caps.statmountOptionArray = ((sm.supportedMask ?? 0) & STATMOUNT.OPT_ARRAY) !== 0;
    }
  } catch {
    /* ENOSYS / EINVAL on older kernels */
  }

  let fs: FdHandle;
  try {
    fs = fsopenSync('overlay');
    caps.newMountApi = caps.overlay = caps.canMount = true;
  } catch (e) {
    const code = isSystemError(e) ? e.code : '';
    caps.newMountApi = code !== 'ENOSYS';
    caps.overlay = code !== 'ENODEV' && code !== 'ENOSYS';
    return caps;
  }

  // Every probe uses '/' as its directory: it exists everywhere, is short (fsconfig values are
  // capped at 255 bytes) and needs no temp dir. Layers are only resolved here, never mounted.
  const handles: FdHandle[] = [fs];
  try {
    caps.fsContextParser = answer(() => fsconfigSetFlagSync(fs, 'overlayfs-probe-no-such-key')) === 'unknown';
    if (!caps.fsContextParser) return caps;
    const flag = (key: string) => answer(() => fsconfigSetFlagSync(fs, key)) !== 'unknown';
    const str = (key: string, value: string) => answer(() => fsconfigSetStringSync(fs, key, value));

    caps.lowerdirPlus = str('lowerdir+', '/') === 'ok';
    caps.userxattr = flag('userxattr');
    caps.volatile = flag('volatile');
    caps.overrideCreds = flag('override_creds');
    caps.verity = str('verity', 'off') !== 'unknown';
    caps.uuidModes = ['off', 'null', 'auto', 'on'].filter((v) => str('uuid', v) === 'ok');
    caps.fsyncModes = ['volatile', 'auto', 'strict'].filter((v) => str('fsync', v) === 'ok');
    caps.fsync = caps.fsyncModes.length > 0;
    if (caps.lowerdirPlus) {
      const root = openSync('/', O.PATH | O.DIRECTORY);
      handles.push(root);
      caps.layersByFd = answer(() => fsconfigSetFdSync(fs, 'lowerdir+', root)) === 'ok';
      caps.datadirPlus = str('datadir+', '/') !== 'unknown';
    }
    // CMD_CREATE_EXCL on an empty context: a kernel that has it tries to create and fails for
    // want of layers (EINVAL); an older one does not know the command (EOPNOTSUPP). Nothing is
    // created either way.
    const trial = fsopenSync('overlay');
    handles.push(trial);
    try {
      fsconfigCreateExclSync(trial);
      caps.createExcl = true;
    } catch (e) {
      caps.createExcl = !(isSystemError(e) && (e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUP'));
    }
  } finally {
    for (const h of handles) h.close();
  }
  return caps;
}

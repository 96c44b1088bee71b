/** OverlaySpec: what to mount, in plain data. Pure: no I/O. */

export type OnOff = 'on' | 'off';
export type Strategy = 'lowerdir+' | 'fd' | 'legacy';

/** Every overlay option the kernel has (Documentation/filesystems/overlayfs.rst, fs/overlayfs/params.c). */
export interface OverlayOptions {
  /** redirect_dir=: directory renames by redirect xattr. Default from Kconfig/module parameter. */
  redirectDir?: 'on' | 'follow' | 'nofollow' | 'off';
  /** index=: inode index (hard links across copy-up, nfs_export). Needs an upper. */
  index?: OnOff;
  /** xino=: unique st_ino across layers on different filesystems. */
  xino?: 'on' | 'off' | 'auto';
  /** metacopy=: metadata-only copy-up. Never with untrusted layers. */
  metacopy?: OnOff;
  /** nfs_export=: file handles for NFS export. Turns index on. */
  nfsExport?: OnOff;
  /** userxattr: user.overlay.* instead of trusted.overlay.* (added automatically in a user namespace). */
  userxattr?: boolean;
  /** uuid=: how the overlay's fsid is derived. */
  uuid?: 'off' | 'null' | 'auto' | 'on';
  /** verity=: fs-verity digests of metacopy files. */
  verity?: 'off' | 'on' | 'require';
  /** volatile: skip every sync on upper (alias of fsync=volatile). A crash makes the upper unusable. */
  volatile?: boolean;
  /** fsync=: 'strict' fsyncs on every copy-up, 'auto' on data copy-up, 'volatile' never. */
  fsync?: 'volatile' | 'auto' | 'strict';
  /** default_permissions: check permissions on the overlay inode as a normal fs would. */
  defaultPermissions?: boolean;
  /** override_creds (Linux 6.15): record the credentials at fsconfig time. New mount API only. */
  overrideCreds?: boolean;
}

/** Per-mount attributes (MOUNT_ATTR_* for the new API, MS_* for mount(2)). */
export interface MountAttributes {
  readOnly?: boolean;
  nosuid?: boolean;
  nodev?: boolean;
  noexec?: boolean;
  atime?: 'relatime' | 'noatime' | 'strictatime';
  nodiratime?: boolean;
  nosymfollow?: boolean;
}

/**
 * One range of an id mapping, as /proc/PID/uid_map lines: the ids `inside` … `inside + count -
 * 1` that a layer's files have (as the container sees them) are the host's `outside` … (a
 * container's root, 0 in the layer, as host uid 100000: `{ inside: 0, outside: 100000, count:
 * 65536 }`).
 */
export interface IdRange {
  /** The first id inside (in the layer, as the container sees it). */
  inside: number;
  /** The host id that `inside` maps to. */
  outside: number;
  count: number;
}

/** Uid and gid ranges (applyLayer's `idMap`). */
export interface IdMap {
  uid: readonly IdRange[];
  gid: readonly IdRange[];
}

/**
 * An idmapped overlay: every lower and data layer is cloned (open_tree) and idmapped
 * (mount_setattr MOUNT_ATTR_IDMAP) before the overlay is made of the clones, so one copy of the
 * layers serves any number of uid ranges and nothing is chowned. Upper and work are used as
 * they are (the kernel creates work/work as the mounter, whom such a map leaves out): what the
 * container writes lands in upper with its ids as the host sees them, so a container root
 * that writes at / needs the upper dir owned by its outside id. The mapping: ranges (`gid`
 * defaults to `uid`), for which the library makes a user namespace (and reaps its process
 * before the call returns); or an existing user namespace, by an fd of it or a process in it.
 */
export type OverlayIdMap = { uid: readonly IdRange[]; gid?: readonly IdRange[] } | { userns: NamespaceFd | number } | { pid: number };

/** An open fd of a user namespace: a handle from sys (open('/proc/PID/ns/user'), userns()). */
export interface NamespaceFd {
  readonly fd: number;
  readonly closed: boolean;
}

export interface OverlaySpec {
  /** Lower layers, top first (as in `lowerdir=`). Absolute paths to directories. */
  lower: readonly string[];
  /** Data-only lower layers (below all of `lower`; reachable only through metacopy redirects). */
  data?: readonly string[];
  /** Writable layer. Without it the overlay is read-only and needs at least 2 layers. */
  upper?: string;
  /** The kernel's scratch dir: required with upper, on the same mount; created if missing. */
  work?: string;
  /** Mount point. */
  target: string;
  options?: OverlayOptions;
  attributes?: MountAttributes;
  /** The mount's source label in /proc/self/mountinfo (default 'overlay'). */
  source?: string;
  /** Force a strategy; by default plan() picks the best this kernel supports. */
  strategy?: Strategy;
  /** Mount even when upper or work is in use by another overlay (the kernel only warns). */
  allowShared?: boolean;
  /** Remove a stale work/incompat/volatile left by an earlier volatile mount (only if no crash happened). */
  clearVolatile?: boolean;
  /** Map the layers' owners through an id mapping (idmapped layers; needs the 'fd' strategy). */
  idmap?: OverlayIdMap;
}


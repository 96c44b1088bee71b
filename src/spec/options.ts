/** The overlay options and mount attributes as tables: one place for validation, planning, read-back and the CLI. */
import type { MountAttributes, OverlayOptions } from './types.js';

/** statfs(2) f_type of an overlay (linux/magic.h): upper on an overlay, a marker written through one. */
export const OVERLAYFS_SUPER_MAGIC = 0x794c7630;

/** The kernel's OVL_MAX_STACK: lower plus data layers. */
export const MAX_LAYERS = 500;

/**
 * Every overlay option: its field, the kernel's key, and the values it takes (a flag takes
 * true/false and is written bare). In the order mountinfo shows them (ovl_show_options).
 */
export const OPTION_KEYS: ReadonlyArray<{ field: keyof OverlayOptions; key: string; values: readonly (string | boolean)[]; flag: boolean }> = [
  { field: 'defaultPermissions', key: 'default_permissions', values: [true, false], flag: true },
  { field: 'redirectDir', key: 'redirect_dir', values: ['on', 'follow', 'nofollow', 'off'], flag: false },
  { field: 'index', key: 'index', values: ['on', 'off'], flag: false },
  { field: 'uuid', key: 'uuid', values: ['off', 'null', 'auto', 'on'], flag: false },
  { field: 'nfsExport', key: 'nfs_export', values: ['on', 'off'], flag: false },
  { field: 'xino', key: 'xino', values: ['on', 'off', 'auto'], flag: false },
  { field: 'metacopy', key: 'metacopy', values: ['on', 'off'], flag: false },
  { field: 'fsync', key: 'fsync', values: ['volatile', 'auto', 'strict'], flag: false },
  { field: 'volatile', key: 'volatile', values: [true, false], flag: true },
  { field: 'userxattr', key: 'userxattr', values: [true, false], flag: true },
  { field: 'verity', key: 'verity', values: ['off', 'on', 'require'], flag: false },
  { field: 'overrideCreds', key: 'override_creds', values: [true, false], flag: true },
];

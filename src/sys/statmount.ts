/** Reading a mount back from the kernel: statmount(2). */
import { flagWord } from './args.js';
import type { FlagArg } from './constants.js';
import type { StatmountResult } from './native-types.js';
import { rawCall } from './steps.js';

export type { StatmountResult };

/**
 * statmount(&{mnt_id: mountId, param: mask}, buf, size, 0). `mountId` is the 64-bit id that
 * statx() returns with STATX.MNT_ID_UNIQUE; `mask` is STATMOUNT.* bits. ENOSYS before Linux 6.8.
 */
export const [statmount, statmountSync] = rawCall('statmount', (mountId: number, mask: FlagArg<'STATMOUNT'>) => ({
  mountId,
  mask: flagWord('mask', mask),
}));

/**
 * listmount(&{mnt_id: mountId, param: since}, ...) → the 64-bit ids of the mounts below
 * `mountId` (0 or omitted: the whole mount namespace, LSMT_ROOT), in ascending order, after
 * `since`; every page in one call. ENOSYS before Linux 6.8.
 */
export const [listmount, listmountSync] = rawCall('listmount', (options: { mountId?: number; since?: number } = {}) => ({
  mountId: options.mountId ?? 0,
  since: options.since ?? 0,
}));

/** Reading a mount back from the kernel: statmount(2). */
import { native } from '../binding.js';
import type { StatmountResult } from '../native-types.js';
import { uint } from '../validate.js';
import { pair } from './pair.js';

export type { StatmountResult };

/**
 * statmount(&{mnt_id: mountId, param: mask}, buf, size, 0). `mountId` is the 64-bit id that
 * statx() returns with STATX.MNT_ID_UNIQUE; `mask` is STATMOUNT.* bits. ENOSYS before Linux 6.8.
 */
export const [statmount, statmountSync] = pair(
  (mountId: number, mask: number) => [uint('mountId', mountId), uint('mask', mask)] as const,
  native.statmount,
  native.statmountSync,
);

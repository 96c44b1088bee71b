/** What this test process may do, computed once. */
import { readlinkSync } from 'node:fs';

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

function ownMountNs(): string {
  return readlinkSync('/proc/self/ns/mnt');
}

/**
 * True when mounts made here cannot reach the host: scripts/run-tests.mjs records the host's
 * namespace in OVERLAYFS_HOST_MNT_NS before it runs us under `unshare --mount --propagation private`.
 */
export function inPrivateMountNs(): boolean {
  const host = process.env.OVERLAYFS_HOST_MNT_NS;
  if (!host) return false;
  try {
    return ownMountNs() !== host;
  } catch {
    return false;
  }
}

/** Why privileged tests cannot run here, or null when they can. */
export function privilegedSkipReason(): string | null {
  if (!isRoot) return 'needs root (CAP_SYS_ADMIN): run `sudo npm test`';
  if (!inPrivateMountNs()) return 'not in a private mount namespace: run `npm test`, which creates one';
  return null;
}

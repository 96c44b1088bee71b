/** What this test process may do, computed once. */
import { readFileSync, readlinkSync } from 'node:fs';

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

/**
 * CAP_SYS_ADMIN in this process's effective set (/proc/self/status CapEff, bit 21). fsopen(2)
 * and fsmount(2) check it (over the mount namespace's owner) before anything else, so without
 * it they fail EPERM whatever their arguments.
 */
export const hasCapSysAdmin = ((): boolean => {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 21n)) !== 0n;
})();

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

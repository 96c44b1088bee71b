/**
 * probe(): how the kernel's answers become a capability report. The probe is a task (it yields
 * its batches of steps), so here it is driven by hand and each step answered as a kernel would:
 * no addon, no privileges, any kernel.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createSystemError } from '../../src/sys/errors.js';
import type { Task } from '../../src/sys/io.js';
import type { Step } from '../../src/sys/steps.js';
import type { Capabilities } from '../../src/mount/probe.js';

const ERRNO = { EPERM: 1, ENOENT: 2, EBADF: 9, EACCES: 13, ENODEV: 19, EINVAL: 22, ENOSYS: 38, EOPNOTSUPP: 95 } as const;
type Code = keyof typeof ERRNO;

const fail = (code: Code, syscall: string, said?: string) =>
  createSystemError({ errno: ERRNO[code], syscall, ...(said !== undefined ? { kernelMessages: [`e overlay: ${said}`] } : {}) });

/** How a kernel answers an fsconfig key (with its value, e.g. `fsync=strict`, or alone for a flag). */
type KeyAnswer = 'ok' | 'unknown' | 'bad' | Code;

interface Kernel {
  /** fsopen's errno, when it fails. */
  fsopen?: Code;
  /** The answer for a key not listed in `keys`. */
  otherKeys: KeyAnswer;
  keys?: Record<string, KeyAnswer>;
  /** lowerdir+ by FSCONFIG_SET_FD. */
  byFd: KeyAnswer;
  /** FSCONFIG_CMD_CREATE_EXCL on an empty context. */
  createExcl: Code;
  /** /proc/filesystems. */
  filesystems: string;
}

const LISTED = 'nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n';

/** 6.18 as root. */
const root618: Kernel = { otherKeys: 'ok', keys: { 'overlayfs-probe-no-such-key': 'unknown' }, byFd: 'ok', createExcl: 'EINVAL', filesystems: LISTED };

function keyAnswer(a: KeyAnswer, key: string): unknown {
  if (a === 'ok') return undefined;
  if (a === 'unknown') return fail('EINVAL', 'fsconfig', `Unknown parameter '${key}'`);
  if (a === 'bad') return fail('EINVAL', 'fsconfig', `Bad value for '${key}'`);
  return fail(a, 'fsconfig');
}

/** What `k` answers to one step of the probe's batches. */
function answer(k: Kernel, step: Step): unknown {
  const s = step as Step & { key?: string; value?: string; path?: string };
  switch (s.op) {
    case 'statx':
      return { mountIdUnique: false, mode: 0o40755, ino: 2, devMajor: 0, devMinor: 1 };
    case 'fsopen':
      return k.fsopen ? fail(k.fsopen, 'fsopen') : { fd: 3, closed: false };
    case 'open':
      return { fd: 4, closed: false };
    case 'fsconfigSetString':
    case 'fsconfigSetFlag': {
      if (k.fsopen) return fail('EBADF', 'fsconfig');
      const withValue = s.value !== undefined ? `${s.key}=${s.value}` : s.key!;
      return keyAnswer(k.keys?.[withValue] ?? k.keys?.[s.key!] ?? k.otherKeys, s.key!);
    }
    case 'fsconfigSetFd':
      return k.fsopen ? fail('EBADF', 'fsconfig') : keyAnswer(k.byFd, s.key!);
    case 'fsconfigCreateExcl':
      return fail(k.fsopen ? 'EBADF' : k.createExcl, 'fsconfig');
    case 'readFile':
      if (s.path === '/proc/self/uid_map') return Buffer.from('         0          0 4294967295\n');
      if (s.path === '/proc/filesystems') return Buffer.from(k.filesystems);
      if (s.path?.startsWith('/sys/module/overlay/parameters/')) return Buffer.from(s.path.endsWith('redirect_max') ? '256\n' : 'N\n');
      return fail('ENOENT', 'open');
    default:
      return fail('ENOSYS', s.op);
  }
}

/** Runs the probe against `k`, its steps answered here instead of by the addon. */
async function probeOf(k: Kernel): Promise<Capabilities> {
  const { capabilitiesTask } = await import('../../src/mount/probe.js');
  const task: Task<Capabilities> = capabilitiesTask();
  let next = task.next();
  while (!next.done) {
    const request = next.value;
    if (request.io !== 'steps') throw new Error(`the probe asked for ${request.io}`);
    next = task.next({ results: request.steps.map((s) => answer(k, s)), kernelMessages: [] });
  }
  return next.value;
}

const FS_CONTEXT_FEATURES = ['fsContextParser', 'lowerdirPlus', 'datadirPlus', 'layersByFd', 'createExcl', 'userxattr', 'volatile', 'fsync', 'uuidModes', 'verity', 'overrideCreds'];

describe('probe(): what was seen, and what could not be tested', () => {
  // The report is computed once per module: every case gets a fresh one.
  beforeEach(() => {
    vi.resetModules();
  });

  it('6.18 as root: every feature tested and present, nothing unknown', async () => {
    const caps = await probeOf(root618);
    expect(caps).toMatchObject({ newMountApi: true, overlay: true, canMount: true, fsContextParser: true, lowerdirPlus: true, datadirPlus: true, layersByFd: true, createExcl: true });
    expect(caps.fsyncModes).toEqual(['volatile', 'auto', 'strict']);
    expect(caps.unknown).toEqual({});
  });

  it('without CAP_SYS_ADMIN (fsopen EPERM): the fs-context features are unknown with the reason, not absent', async () => {
    const caps = await probeOf({ ...root618, fsopen: 'EPERM' });
    expect(caps.canMount).toBe(false);
    expect(caps.newMountApi).toBe(true);
    // /proc/filesystems lists overlay: that much is known.
    expect(caps.overlay).toBe(true);
    expect(Object.keys(caps.unknown ?? {}).sort()).toEqual([...FS_CONTEXT_FEATURES].sort());
    for (const f of FS_CONTEXT_FEATURES) expect(caps.unknown?.[f as keyof NonNullable<Capabilities['unknown']>]).toBe('fsopen(overlay) needs CAP_SYS_ADMIN: EPERM');
    // The booleans keep their type: false, as unseen.
    expect(caps).toMatchObject({ lowerdirPlus: false, layersByFd: false, createExcl: false, fsyncModes: [], uuidModes: [] });
  });

  it('without CAP_SYS_ADMIN and overlay not registered yet: overlay itself is unknown', async () => {
    const caps = await probeOf({ ...root618, fsopen: 'EPERM', filesystems: 'nodev\ttmpfs\n' });
    expect(caps.overlay).toBe(false);
    expect(caps.unknown?.overlay).toMatch(/CAP_SYS_ADMIN.*\/proc\/filesystems does not list overlay/);
  });

  it('another fsopen failure is unknown with its code', async () => {
    const caps = await probeOf({ ...root618, fsopen: 'EACCES' });
    expect(caps.unknown?.lowerdirPlus).toBe('fsopen(overlay) failed: EACCES');
  });

  it('no new mount API (ENOSYS) or no overlay (ENODEV): absent, not unknown', async () => {
    const old = await probeOf({ ...root618, fsopen: 'ENOSYS' });
    expect(old).toMatchObject({ newMountApi: false, overlay: true, lowerdirPlus: false, userxattr: false });
    expect(old.unknown).toEqual({});
    vi.resetModules();
    const none = await probeOf({ ...root618, fsopen: 'ENODEV', filesystems: 'nodev\ttmpfs\n' });
    expect(none).toMatchObject({ newMountApi: true, overlay: false, lowerdirPlus: false });
    expect(none.unknown).toEqual({});
  });

  it('before 6.5 (no fs_context parser: any key is taken): lowerdir+ is absent, userxattr and volatile unknown', async () => {
    const caps = await probeOf({ ...root618, keys: {}, byFd: 'bad', createExcl: 'EOPNOTSUPP' });
    expect(caps).toMatchObject({ fsContextParser: false, lowerdirPlus: false, createExcl: false, userxattr: false, volatile: false });
    expect(Object.keys(caps.unknown ?? {}).sort()).toEqual(['userxattr', 'volatile']);
    expect(caps.unknown?.userxattr).toMatch(/no fs_context parser/);
  });

  it('6.8: lowerdir+ seen, layers by fd refused ("Bad value"): absent, not unknown', async () => {
    const caps = await probeOf({ ...root618, byFd: 'bad', keys: { ...root618.keys, 'fsync=volatile': 'unknown', 'fsync=auto': 'unknown', 'fsync=strict': 'unknown' } });
    expect(caps).toMatchObject({ lowerdirPlus: true, layersByFd: false, fsync: false });
    expect(caps.unknown).toEqual({});
  });

  it('a lowerdir+ probe that fails for another reason leaves lowerdir+ (and what depends on it) unknown', async () => {
    const caps = await probeOf({ ...root618, keys: { ...root618.keys, 'lowerdir+': 'EACCES' } });
    expect(caps.lowerdirPlus).toBe(false);
    expect(caps.unknown).toEqual({
      lowerdirPlus: "fsconfig lowerdir+ '/' failed: EACCES",
      datadirPlus: "fsconfig lowerdir+ '/' failed: EACCES",
      layersByFd: "fsconfig lowerdir+ '/' failed: EACCES",
    });
  });
});

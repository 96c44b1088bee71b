/**
 * A failed mount's error: which kernel log lines speak for it (those naming one of its paths,
 * in any form the kernel prints them), what goes in its message, and which hint it gets. The
 * kernel log is shared by every process: a line about another overlay logged in the same instant
 * must not explain this one.
 */
import { describe, expect, it } from 'vitest';
import { isMountError, kernelPathForms, mountError, namesPath, type FailureContext } from '../../src/mount/failure.js';
import { createSystemError } from '../../src/sys/errors.js';
import type { OverlaySpec } from '../../src/spec/types.js';

const spec: OverlaySpec = { lower: ['/srv/l/top', '/srv/l/bottom'], upper: '/srv/rw/upper', work: '/srv/rw/work', target: '/srv/merged' };
/** upper's real path, as validation found it (e.g. /srv is a symlink to /data/srv). */
const REAL_UPPER = '/data/srv/rw/upper';
const paths = kernelPathForms(spec, [REAL_UPPER]);

const ESTALE = createSystemError({ errno: 116, syscall: 'fsconfig' });
const EBUSY = createSystemError({ errno: 16, syscall: 'fsconfig' });
const EINVAL_MOUNT = createSystemError({ errno: 22, syscall: 'mount', path: 'overlay', dest: '/srv/merged' });

type Ctx = Omit<FailureContext, 'cursor'>;
const atCreate: Ctx = { stage: 'create', strategy: 'lowerdir+', paths, index: false };
const atMount: Ctx = { stage: 'mount', strategy: 'legacy', paths, index: false };

// Lines another overlay could log at the same time; each would pick a hint of its own.
const FOREIGN = [
  'overlayfs: upper fs needs to support d_type.',
  "overlayfs: upperdir is in-use as upperdir/workdir of another mount, mount with '-o index=off' to override exclusive upperdir protection.",
  'overlayfs: failed to verify upper root origin',
  'overlay: filesystem on /srv/other/upper is read-only',
  "overlayfs: failed to resolve '/srv/rw/upper2': -2",
];

describe('namesPath: a path named whole, as the kernel prints it', () => {
  it.each([
    ['overlay: filesystem on /srv/rw/upper is read-only', true],
    ["overlayfs: failed to resolve '/srv/rw/upper': -2", true],
    ["overlayfs: fs on '/srv/rw/upper' does not support file handles, falling back to index=off,nfs_export=off.", true],
    ['overlayfs: failed to create directory /srv/rw/upper/work (errno: 13); mounting read-only', true],
    ['overlay: /srv/rw/upper is not a directory', true],
    ['overlay: filesystem on /srv/rw/upper2 is read-only', false],
    ['overlay: filesystem on /srv/rw/upper.old is read-only', false],
    ['overlay: filesystem on /x/srv/rw/upper is read-only', false],
    ['overlayfs: upper fs needs to support d_type.', false],
  ])('%s → %s', (line, named) => {
    expect(namesPath(line, '/srv/rw/upper')).toBe(named);
  });
});

describe('kernelPathForms: every form the kernel may print', () => {
  it('the spec paths, their real paths, and each as sent (escaped for mount(2) data or upperdir/workdir strings)', () => {
    const odd: OverlaySpec = { lower: ['/srv/a,b:c', '/srv/l2'], upper: '/srv/u\\x', work: '/srv/w', target: '/srv/m' };
    const forms = kernelPathForms(odd, ['/real/u']);
    expect(forms).toEqual(expect.arrayContaining(['/srv/a,b:c', '/srv/a\\,b\\:c', '/srv/u\\x', '/srv/u\\\\x', '/srv/l2', '/srv/w', '/srv/m', '/real/u']));
    expect(new Set(forms).size).toBe(forms.length);
  });
});

describe('mountError: only lines of this mount speak for it', () => {
  it("lines naming none of this mount's paths stay in kernelLog, out of the message, and give no hint", () => {
    const e = mountError(ESTALE, FOREIGN, atCreate);
    expect(e.message).toBe('ESTALE: stale file handle, fsconfig');
    expect(e.kernelLog).toEqual(FOREIGN);
    expect(e.hint).toBeUndefined();
    expect(isMountError(e)).toBe(true);
    expect(e).toMatchObject({ code: 'ESTALE', errno: -116, syscall: 'fsconfig', stage: 'create', strategy: 'lowerdir+' });
  });

  it('a line naming upper is in the message once and picks its hint', () => {
    const ours = 'overlay: filesystem on /srv/rw/upper is read-only';
    const e = mountError(EINVAL_MOUNT, [FOREIGN[0]!, ours, FOREIGN[3]!], atMount);
    expect(e.message).toBe(`EINVAL: invalid argument, mount 'overlay' -> '/srv/merged' (${ours})`);
    expect(e.kernelLog).toEqual([FOREIGN[0], ours, FOREIGN[3]]);
    // Not the d_type hint of the foreign line before it.
    expect(e.hint).toMatch(/writable filesystem/);
  });

  it('a line naming the real path of upper is this mount\'s too', () => {
    const e = mountError(EINVAL_MOUNT, [`overlay: filesystem on ${REAL_UPPER} is read-only`], atMount);
    expect(e.message).toContain(REAL_UPPER);
    expect(e.hint).toMatch(/writable/);
  });

  it('a line naming a path inside work (work/work) is this mount\'s', () => {
    const line = 'overlayfs: failed to create directory /srv/rw/work/work (errno: 13); mounting read-only';
    expect(mountError(EINVAL_MOUNT, [line], atMount).message).toContain(line);
  });

  it('the fs-context log is always this mount\'s (it is per fs context), with or without a path', () => {
    const err = createSystemError({ errno: 22, syscall: 'fsconfig', kernelMessages: ['e overlay: too many lower directories, limit is 500'] });
    const e = mountError(err, FOREIGN, { ...atCreate, stage: "fsconfig lowerdir+ '/srv/l/500'" });
    expect(e.message).toBe('EINVAL: invalid argument, fsconfig (overlay: too many lower directories, limit is 500)');
    expect(e.hint).toMatch(/at most 500/);
  });
});

describe('mountError: hints that hold without a line of this mount (errno and stage)', () => {
  it('ESTALE with index=on: the upper was used with other lower layers (not the d_type of a line from elsewhere)', () => {
    for (const ctx of [{ ...atCreate, index: true }, { ...atMount, index: true }]) {
      const e = mountError(ESTALE, FOREIGN, ctx);
      expect(e.message).not.toContain('overlay');
      expect(e.hint).toMatch(/index=on.*other lower layers/);
    }
  });

  it('EBUSY at create with index=on: another mount uses upper or work', () => {
    const e = mountError(EBUSY, [FOREIGN[0]!], { ...atCreate, index: true });
    expect(e.message).toBe('EBUSY: resource busy or locked, fsconfig');
    expect(e.hint).toMatch(/another overlay uses this upper or work dir, which index=on refuses to share/);
  });

  it('without index=on neither is said: ESTALE and EBUSY at create have other causes', () => {
    expect(mountError(ESTALE, FOREIGN, atCreate).hint).toBeUndefined();
    expect(mountError(EBUSY, FOREIGN, atCreate).hint).toBeUndefined();
  });
});

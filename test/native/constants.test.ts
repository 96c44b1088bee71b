import { describe, expect, it } from 'vitest';
import { native } from '../../src/sys/binding.js';
import * as C from '../../src/sys/constants.js';

// TS group -> prefix of the C name. A member `X` maps to `${prefix}X`, except where the C name
// does not share the group's prefix (umount2's UMOUNT_NOFOLLOW lives in MNT).
const groups = {
  MS: 'MS_',
  MNT: 'MNT_',
  FSOPEN: 'FSOPEN_',
  FSPICK: 'FSPICK_',
  FSMOUNT: 'FSMOUNT_',
  FSCONFIG: 'FSCONFIG_',
  MOUNT_ATTR: 'MOUNT_ATTR_',
  MOVE_MOUNT: 'MOVE_MOUNT_',
  OPEN_TREE: 'OPEN_TREE_',
  AT: 'AT_',
  O: 'O_',
  XATTR: 'XATTR_',
  RESOLVE: 'RESOLVE_',
  LOCK: 'LOCK_',
  S: 'S_',
  STATX: 'STATX_',
  STATMOUNT: 'STATMOUNT_',
} as const satisfies Record<string, string>;

const exceptions: Record<string, string> = { 'MNT.UMOUNT_NOFOLLOW': 'UMOUNT_NOFOLLOW' };

function cName(group: keyof typeof groups, member: string): string {
  return exceptions[`${group}.${member}`] ?? `${groups[group]}${member}`;
}

const rows = (Object.keys(groups) as Array<keyof typeof groups>).flatMap((group) =>
  Object.entries(C[group] as Record<string, number>).map(([member, value]) => ({
    ts: `${group}.${member}`,
    c: cName(group, member),
    value,
  })),
);

describe('src/constants.ts matches the C headers the addon was built with', () => {
  it('covers every exported constant group', () => {
    // A new group in constants.ts must be added to `groups` above, or it would go unchecked.
    const exported = Object.keys(C).filter((k) => typeof (C as Record<string, unknown>)[k] === 'object');
    expect(exported.sort()).toEqual(Object.keys(groups).sort());
  });

  it('maps names as documented', () => {
    expect(cName('MS', 'RDONLY')).toBe('MS_RDONLY');
    expect(cName('MNT', 'UMOUNT_NOFOLLOW')).toBe('UMOUNT_NOFOLLOW');
    expect(cName('MOUNT_ATTR', '_ATIME')).toBe('MOUNT_ATTR__ATIME');
    expect(cName('S', 'IFCHR')).toBe('S_IFCHR');
    expect(rows.length).toBeGreaterThan(80);
  });

  it('has a TS constant for every header value the addon exports', () => {
    const covered = new Set(rows.map((r) => r.c));
    expect(Object.keys(native().constants).filter((k) => !covered.has(k))).toEqual([]);
  });

  it.each(rows)('$ts === $c', ({ c, value }) => {
    expect(Object.hasOwn(native().constants, c), `the addon exports no ${c}`).toBe(true);
    expect(value).toBe(native().constants[c]);
  });
});

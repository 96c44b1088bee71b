/**
 * The pure parts of the command line: libmount's merge of per-mount and superblock options for
 * `ovl mount -t overlay`.
 */
import { describe, expect, it } from 'vitest';
import { mergeOptions } from '../../src/cli/mount8.js';

describe('mergeOptions (as libmount merges them for mount(8)\'s list)', () => {
  it.each([
    ['rw,relatime', 'rw,lowerdir=/a:/b', 'rw,relatime,lowerdir=/a:/b'],
    ['ro,nosuid,relatime', 'ro,lowerdir=/a', 'ro,nosuid,relatime,lowerdir=/a'],
    ['ro,relatime', 'rw,lowerdir=/a,upperdir=/u', 'ro,relatime,lowerdir=/a,upperdir=/u'],
    ['rw,noatime', 'ro,lowerdir=/a', 'ro,noatime,lowerdir=/a'],
    ['rw', 'rw', 'rw'],
  ])('%s + %s', (vfs, fs, merged) => {
    expect(mergeOptions(vfs, fs)).toBe(merged);
  });
});

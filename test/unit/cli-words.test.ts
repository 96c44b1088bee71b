/**
 * The pure parts of the command line: `ovl batch`'s word splitting (a shell's, without
 * expansion) and libmount's merge of per-mount and superblock options for `ovl mount -t overlay`.
 */
import { describe, expect, it } from 'vitest';
import { mergeOptions } from '../../src/cli/mount8.js';
import { splitWords, WordsError } from '../../src/cli/words.js';

describe('splitWords', () => {
  it.each([
    ['mount -o lowerdir=/a:/b /m', ['mount', '-o', 'lowerdir=/a:/b', '/m']],
    ['  umount\t/m  ', ['umount', '/m']],
    ["mount '/my mount'", ['mount', '/my mount']],
    ['mount "/my mount"', ['mount', '/my mount']],
    ['mount /my\\ mount', ['mount', '/my mount']],
    ["a'b'\"c\"d", ['abcd']],
    ["'it'\\''s'", ["it's"]],
    ['"a \\"q\\" \\\\ \\$HOME \\x"', ['a "q" \\ $HOME \\x']],
    ["'$HOME' $HOME ~ *", ['$HOME', '$HOME', '~', '*']],
    ["''", ['']],
    ['mount /m # a comment', ['mount', '/m']],
    ['# only a comment', []],
    ['a#b', ['a#b']],
    ['', []],
  ])('%s', (line, words) => {
    expect(splitWords(line)).toEqual(words);
  });

  it.each([["'open", 'unterminated single quote'], ['"open', 'unterminated double quote'], ['end\\', 'a backslash at the end of the line']])('%s: %s', (line, message) => {
    expect(() => splitWords(line)).toThrow(new WordsError(message));
  });
});

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

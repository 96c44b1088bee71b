/** Helpers for the tests of src/oci: byte streams in and out, and what a process holds. */
import { readdirSync, readFileSync } from 'node:fs';
import { Readable, type Duplex } from 'node:stream';
import { zstdCommand } from '../../src/oci/compression.js';

/** Every byte a readable side gives, concatenated. */
export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** `chunks` written through `stream` (ending it), and all it gives back. */
export async function through(stream: Duplex, chunks: readonly Uint8Array[]): Promise<Buffer> {
  const out = collect(stream);
  // Readable.from over an array of Buffers, in byte mode; pipe() honours backpressure.
  Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false }).pipe(stream);
  return out;
}

/** The child processes of this process (all its threads), from /proc. */
export function childPids(): number[] {
  const pids: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const text = readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {
      // the thread ended
    }
  }
  return pids;
}

/** The fds this process has open, as their targets (for a before/after comparison). */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

/** Why the zstd command cannot be used here, or null (for ctx.skip in tests of the other paths). */
export const hasZstdCommand = zstdCommand() !== undefined;

/** `text` repeated with line numbers: compressible, and the same in every test. */
export function numberedLines(lines: number, text = 'overlay layer line'): Buffer {
  let s = '';
  for (let i = 0; i < lines; i++) s += `${text} ${i}\n`;
  return Buffer.from(s);
}

/** A zstd frame (level 19, with checksum) of numberedLines(400), made with zstd 1.5.4. */
export const ZSTD_FIXTURE = Buffer.from(
  'KLUv/WSCIvUNACZtUhWwpVo4QOCYRQQYSQqIiAiRuSUG4UBaAEkARQC7u7u7u6qqqqqqwWAwGAwGg8HgOeecc845xhhjjDHGlFJKKaWUQgghhBBCyBhjjDHGGEIIIYQQQmzbtm3//6+qqscUMsRWAkEEAQAUyIDgYKBABwMFBgQDBAS7u7u7u4fD4XA4HA6Hw8fj8Xg8Ho/Ho9FoNBqNRqPRWCwWi8VisVgsEolEIpFIJBKJw+FwOBwOh8OhUCgUCoVCoVA455xzzjln0zRN0zRN0zRNa6211lprrTebzWaz2Vwul8vlcrlcLpPJZDKZTCaTyePxeDwej8fjsVgsFovFYrFYvPfee++99/////8fAudM0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zRN0zQFgY+oERD5/TvBR5VzEfwrBAj+a3u93/d9v/f7rnT9QwMABBAgQEAAAQEEBBAQQJBWaHL+ZlL+ZDL+YhL+YLkuACABAAIQAAAAAgAAIAAAAAIAAIDmq/AS3Q+X2H60RPaDJa4fa8vKysrKlZWVVVq7CKRVRDX2+A==',
  'base64',
);
/** Two zstd frames, one after the other: "hello, overlay layers\n" and "second frame\n". */
export const ZSTD_TWO_FRAMES = Buffer.concat([
  Buffer.from('KLUv/SQWsQAAaGVsbG8sIG92ZXJsYXkgbGF5ZXJzClD9scs=', 'base64'),
  Buffer.from('KLUv/SQNaQAAc2Vjb25kIGZyYW1lCp45c6s=', 'base64'),
]);

/**
 * expect(actual).toEqual(expected) for bytes, without its element-by-element walk (seconds for a
 * few MB): equal, or a failure that says where they first differ.
 */
export function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.equals(b)) return;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  throw new Error(`bytes differ: ${a.length} bytes against ${b.length} expected, first difference at byte ${i}`);
}

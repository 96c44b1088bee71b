/** Tar test helpers: run the parser over chunks and record what the sink saw. */
import { TarParser, type TarParserOptions } from '../../src/oci/tar/parse.js';
import type { TarEntry } from '../../src/oci/tar/header.js';
import { END_OF_ARCHIVE, encodeHeader, padding, type TarEntryInput } from '../../src/oci/tar/write.js';

export interface Parsed {
  entries: Array<TarEntry & { data: Buffer }>;
  /** How many times the sink's end() ran. */
  ended: number;
}

/** Parse `chunks` (write each, then end()); every entry with its data joined. */
export function parseChunks(chunks: readonly Buffer[], options?: TarParserOptions): Parsed {
  const out: Parsed = { entries: [], ended: 0 };
  let parts: Buffer[] = [];
  const flush = () => {
    const last = out.entries.at(-1);
    if (last) last.data = Buffer.concat(parts);
    parts = [];
  };
  const p = new TarParser(
    {
      entry(e) {
        flush();
        out.entries.push({ ...e, data: Buffer.alloc(0) });
      },
      data(c) {
        parts.push(Buffer.from(c));
      },
      end() {
        out.ended++;
      },
    },
    options,
  );
  for (const c of chunks) p.write(c);
  p.end();
  flush();
  return out;
}

/** `buf` cut at `cuts` (any order, duplicates and out-of-range ignored). */
export function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.filter((c) => c > 0 && c < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** A whole archive of `entries` with their data, and the offset where each entry ends (after its padding). */
export function archive(entries: ReadonlyArray<{ input: TarEntryInput; data?: Buffer }>, end = true): { tar: Buffer; boundaries: number[] } {
  const parts: Buffer[] = [];
  const boundaries = [0];
  let n = 0;
  for (const { input, data = Buffer.alloc(0) } of entries) {
    for (const b of [encodeHeader(input), data, padding(data.length)]) {
      parts.push(b);
      n += b.length;
    }
    boundaries.push(n);
  }
  if (end) parts.push(END_OF_ARCHIVE);
  return { tar: Buffer.concat(parts), boundaries };
}

/** The header's checksum recomputed after an edit (as an unsigned sum, six octal digits, NUL, space). */
export function fixChecksum(block: Buffer, o = 0): void {
  block.fill(0x20, o + 148, o + 156);
  let sum = 0;
  for (let i = o; i < o + 512; i++) sum += block[i]!;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', o + 148, 'latin1');
}

/** A Parsed as one string (buffers in hex), to compare thousands of parses quickly. */
export function summary(p: Parsed): string {
  return JSON.stringify(p, (_k, v: unknown) => {
    if (v instanceof Map) return [...v].map(([k, b]) => [k, Buffer.from(b as Buffer).toString('hex')]);
    if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) return Buffer.from((v as { data: number[] }).data).toString('hex');
    return v;
  });
}

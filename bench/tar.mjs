#!/usr/bin/env node
/**
 * The tar parser's speed: a tar of /usr/include, /usr/share/doc and /usr/lib/python3 made by GNU
 * tar in a temp dir (removed after), held in memory as 64 KiB chunks, parsed whole by
 * TarParser with a sink that counts entries and data bytes. Prints the median of the rounds and
 * GNU tar's own `tar -tf` of the same file (which reads its headers and seeks past the data).
 * Needs no root; run after `npm run build:ts`.
 *
 *   node bench/tar.mjs [--rounds=N] [--chunk=BYTES] [--dirs=/a,/b]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, rmSync, closeSync, fstatSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { TarParser } from '../dist/oci/tar/parse.js';
import { median, now, since } from './stats.mjs';

const argv = process.argv.slice(2);
const arg = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const rounds = Number(arg('rounds') ?? 15);
const chunkSize = Number(arg('chunk') ?? 65536);
const dirs = (arg('dirs') ?? '/usr/include,/usr/share/doc,/usr/lib/python3').split(',');

const tmp = mkdtempSync(join(os.tmpdir(), 'overlayfs-tar-bench-'));
try {
  const file = join(tmp, 'bench.tar');
  const made = spawnSync('tar', ['-cf', file, ...dirs], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (made.status !== 0 && made.status !== 1) throw new Error(`tar -cf failed: ${made.stderr}`);
  const fd = openSync(file, 'r');
  const total = fstatSync(fd).size;
  const chunks = [];
  for (let off = 0; off < total; off += chunkSize) {
    const b = Buffer.allocUnsafe(Math.min(chunkSize, total - off));
    readSync(fd, b, 0, b.length, off);
    chunks.push(b);
  }
  closeSync(fd);

  let entries = 0;
  let bytes = 0;
  const sink = { entry() { entries++; }, data(c) { bytes += c.length; } };
  const times = [];
  for (let r = 0; r < rounds; r++) {
    entries = 0;
    bytes = 0;
    const t = now();
    const p = new TarParser(sink);
    for (const c of chunks) p.write(c);
    p.end();
    times.push(since(t) / 1e6);
  }
  const gnu = [];
  for (let r = 0; r < Math.min(rounds, 5); r++) {
    const t = now();
    spawnSync('tar', ['-tf', file], { stdio: 'ignore' });
    gnu.push(since(t) / 1e6);
  }
  const ms = median(times);
  console.log(`${entries} entries, ${(total / 2 ** 20).toFixed(1)} MiB in ${chunks.length} chunks of ${chunkSize} bytes, ${(bytes / 2 ** 20).toFixed(1)} MiB of data`);
  console.log(`TarParser: median ${ms.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, ${rounds} rounds), ${((ms * 1000) / entries).toFixed(2)} µs per entry`);
  console.log(`GNU tar -tf (a process, reads the file): median ${median(gnu).toFixed(1)} ms`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

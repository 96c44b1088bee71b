#!/usr/bin/env node
/**
 * The layer writer (sys.openLayerWriter) against GNU tar extracting the same tree, both on tmpfs.
 *
 *   npm run build:ts && node bench/layer-writer.mjs [--src=/usr/include] [--copies=2] [--rounds=7]
 *                                                  [--batch=1000] [--sync] [--json]
 *
 * The source tree (default: two copies of /usr/include, ~16,000 files and ~1,700 directories)
 * is copied to a tmpfs, archived once with `tar -cf`, and read into memory (names, metadata,
 * contents) for the writer, so that what is timed is the filesystem work: `tar -xf` of the
 * archive (as root: owners, modes and mtimes restored, like the writer with uid/gid given)
 * against openLayerWriter + WriteBatch runs of `--batch` entries (one thread-pool hop each) +
 * finish(). The packing alone (filling the batches, no native call) is timed too: the
 * JavaScript cost per entry. Rounds are interleaved; the ratio is the median of per-round
 * ratios. Nothing is asserted. Before timing, both trees are compared (names, types, modes,
 * owners, sizes, mtimes in whole seconds: tar's archive keeps no more).
 *
 * Needs root: it runs itself in `unshare --mount --propagation private` and mounts its tmpfs
 * there, so nothing is left behind.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtRatio, fmtTime, median, now, since, table } from './stats.mjs';

const self = fileURLToPath(import.meta.url);
const repo = join(dirname(self), '..');
const argv = process.argv.slice(2);
const arg = (name, fallback) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const opt = {
  src: arg('src', '/usr/include'),
  copies: Number(arg('copies', '2')),
  rounds: Number(arg('rounds', '7')),
  batch: Number(arg('batch', '1000')),
  sync: argv.includes('--sync'),
  json: argv.includes('--json'),
};

if (process.getuid?.() !== 0) {
  console.error('bench/layer-writer: needs root (it mounts a tmpfs in a private mount namespace)');
  process.exit(2);
}
if (!process.env.OVL_BENCH_INNER) {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, self, ...argv], {
    stdio: 'inherit',
    env: { ...process.env, OVL_BENCH_INNER: '1' },
  });
  process.exit(r.status ?? 1);
}

const { sys } = await import(join(repo, 'dist/index.js'));
const { openLayerWriter, WriteBatch } = sys;

const work = mkdtempSync(join(os.tmpdir(), 'ovl-bench-lw-'));
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
};
run('mount', ['-t', 'tmpfs', '-o', 'size=2g', 'tmpfs', work]);

try {
  const src = join(work, 'src');
  mkdirSync(src);
  for (let i = 0; i < opt.copies; i++) run('cp', ['-a', opt.src, join(src, `c${i}`)]);
  const archive = join(work, 'layer.tar');
  run('tar', ['-cf', archive, '-C', src, '.']);

  // The tree in memory, in the order a tar lists it (a directory before its contents).
  const entries = [];
  const walk = (dir, rel) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      const meta = { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtimeSec: Number(st.mtimeNs / 1_000_000_000n), mtimeNsec: Number(st.mtimeNs % 1_000_000_000n) };
      if (st.isDirectory()) {
        entries.push({ kind: 'dir', path: r, meta });
        walk(p, r);
      } else if (st.isSymbolicLink()) entries.push({ kind: 'symlink', path: r, meta, target: readlinkSync(p) });
      else if (st.isFile()) entries.push({ kind: 'file', path: r, meta, data: readFileSync(p) });
    }
  };
  walk(src, '');
  const files = entries.filter((e) => e.kind === 'file').length;
  const bytes = entries.reduce((n, e) => n + (e.data?.length ?? 0), 0);

  const fill = (b, e) => {
    if (e.kind === 'dir') b.dir(e.path, e.meta);
    else if (e.kind === 'symlink') b.symlink(e.path, e.target, e.meta);
    else {
      b.file(e.path, e.meta);
      if (e.data.length > 0) b.data(e.data);
      b.endFile();
    }
  };

  const fresh = (name) => {
    const d = join(work, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    return d;
  };

  const variants = {
    'tar -xf': () => {
      const dest = fresh('tar-out');
      const t0 = now();
      run('tar', ['-xf', archive, '-C', dest]);
      return since(t0);
    },
    'layer writer': async () => {
      const dest = fresh('lw-out');
      const t0 = now();
      const w = openLayerWriter(dest);
      let b = new WriteBatch();
      for (const e of entries) {
        fill(b, e);
        if (b.ops >= opt.batch || b.dataBytes >= 16 << 20) {
          if (opt.sync) w.runSync(b);
          else await w.run(b);
        }
      }
      if (opt.sync) {
        w.runSync(b);
        w.finishSync();
      } else {
        await w.run(b);
        await w.finish();
      }
      return since(t0);
    },
    'packing only (JS)': () => {
      const t0 = now();
      let b = new WriteBatch();
      for (const e of entries) {
        fill(b, e);
        if (b.ops >= opt.batch) b = new WriteBatch();
      }
      return since(t0);
    },
  };

  // Check once that the writer's tree is tar's (names, types, modes, owners, mtimes, sizes).
  await variants['layer writer']();
  variants['tar -xf']();
  const listing = (root) => {
    const out = [];
    const w = (dir, rel) => {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        const st = lstatSync(p, { bigint: true });
        out.push(`${rel}/${name} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.isDirectory() ? '' : st.size} ${st.isSymbolicLink() ? "" : st.mtimeNs / 1_000_000_000n}`);
        if (st.isDirectory()) w(p, `${rel}/${name}`);
      }
    };
    w(root, '');
    return out.join('\n');
  };
  const mine = listing(join(work, 'lw-out')).split('\n');
  const tars = listing(join(work, 'tar-out')).split('\n');
  const same = mine.length === tars.length && mine.every((l, i) => l === tars[i]);
  if (!same) {
    const i = mine.findIndex((l, k) => l !== tars[k]);
    console.error(`bench/layer-writer: the trees differ first at\n  writer: ${mine[i]}\n  tar:    ${tars[i]}`);
  }

  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const ratios = [];
  const names = Object.keys(variants);
  for (let r = 0; r < opt.rounds; r++) {
    const got = {};
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + r) % names.length];
      got[name] = await variants[name]();
      samples[name].push(got[name]);
    }
    ratios.push(got['layer writer'] / got['tar -xf']);
  }

  const result = {
    source: `${opt.copies} × ${opt.src}`,
    entries: entries.length,
    files,
    bytes,
    batch: opt.batch,
    mode: opt.sync ? 'runSync' : 'run (async)',
    sameTreeAsTar: same,
    medianNs: Object.fromEntries(names.map((n) => [n, median(samples[n])])),
    perEntryNs: Object.fromEntries(names.map((n) => [n, median(samples[n]) / entries.length])),
    writerOverTar: median(ratios),
  };
  if (opt.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`${result.source}: ${entries.length} entries (${files} files, ${(bytes / 2 ** 20).toFixed(1)} MiB) on tmpfs; ` +
      `batches of ${opt.batch}, ${result.mode}; ${opt.rounds} rounds; same tree as tar: ${same}`);
    console.log(table(['', 'median', 'per entry'], names.map((n) => [n, fmtTime(result.medianNs[n]), fmtTime(result.perEntryNs[n])])));
    console.log(`layer writer / tar -xf: ${fmtRatio(result.writerOverTar)} (median of per-round ratios)`);
  }
} finally {
  spawnSync('umount', ['-l', work]);
  rmSync(work, { recursive: true, force: true });
}

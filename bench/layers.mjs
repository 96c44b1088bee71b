/**
 * The layer sections of `npm run bench`: applyLayer() against GNU tar (and node-tar, for the
 * README) on the same layer file, interleaved round by round, everything on the bench's tmpfs.
 *
 * The layer is what issue 9 measured: /usr/include, /usr/share/doc and /usr/lib/python3 as one
 * uncompressed tar made by GNU tar (about 17,000 entries), and the same gzip-compressed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { interleave, now, ratio, since, summarize } from './stats.mjs';

/** The trees issue 9 measured with, as one layer: apply's tar and export's upper. */
export const LAYER_SOURCES = ['/usr/include', '/usr/share/doc', '/usr/lib/python3'];

/** The layer tars, made once: plain and gzip. */
export function makeLayerTars(base, run) {
  const dir = join(base, 'oci');
  mkdirSync(dir, { recursive: true });
  const present = LAYER_SOURCES.filter((s) => existsSync(s)).map((s) => s.slice(1));
  const tar = join(dir, 'layer.tar');
  // -C / with relative names: the tar's entries are usr/include/..., as an image layer's are.
  run('tar', ['-cf', tar, '-C', '/', ...present]);
  const gz = join(dir, 'layer.tar.gz');
  run('sh', ['-c', `gzip -1 -c '${tar}' > '${gz}'`]);
  const entries = Number(run('sh', ['-c', `tar -tf '${tar}' | wc -l`]).trim());
  return { dir, tar, gz, entries, bytes: statSync(tar).size, gzBytes: statSync(gz).size, sources: present.map((p) => `/${p}`) };
}

function nodeTar() {
  try {
    return createRequire(import.meta.url)('tar');
  } catch {
    return undefined;
  }
}

/** Each variant extracts into a fresh directory and removes it after (outside the timing). */
function extractVariant(name, dir, extract) {
  let n = 0;
  return {
    name,
    k: 1,
    warm: 1,
    run: async () => {
      const out = join(dir, `out-${name.replace(/\W+/g, '-')}-${n++}`);
      mkdirSync(out);
      const t0 = now();
      await extract(out);
      const ns = since(t0);
      rmSync(out, { recursive: true, force: true });
      return [ns];
    },
  };
}

export async function benchApply({ lib, base, run, log, rounds, results }) {
  const layer = makeLayerTars(base, run);
  results.config.apply = { entries: layer.entries, bytes: layer.bytes, gzipBytes: layer.gzBytes, sources: layer.sources, rounds };
  const tarX = (file, flags) => async (out) => {
    const r = spawnSync('tar', [flags, file, '-C', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`tar ${flags} exited ${r.status}: ${r.stderr}`);
  };
  // Into a directory that does not exist yet: applyLayer fills a temporary one and renames it.
  const apply = (file) => async (out) => {
    rmSync(out, { recursive: true, force: true });
    await lib.applyLayer(file, out);
  };
  // What a tool must do to check a layer's diffID as GNU tar extracts it: hash the same bytes.
  const tarHashed = (file) => async (out) => {
    const r = spawnSync('bash', ['-c', 'tee >(sha256sum >/dev/null) < "$0" | tar -xf - -C "$1"', file, out], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`tee | tar -x exited ${r.status}: ${r.stderr}`);
  };
  const variants = [
    extractVariant('tar -xf', layer.dir, tarX(layer.tar, '-xf')),
    extractVariant('tar -xf + sha256sum', layer.dir, tarHashed(layer.tar)),
    extractVariant('applyLayer', layer.dir, apply(layer.tar)),
    extractVariant('tar -xzf', layer.dir, tarX(layer.gz, '-xzf')),
    extractVariant('applyLayer gzip', layer.dir, apply(layer.gz)),
  ];
  const nt = nodeTar();
  // node-tar is 10-20× slower: one round of it, for the README, not every round.
  const ntRounds = nt ? 1 : 0;
  log(`apply: ${layer.entries} entries, ${(layer.bytes / 1e6).toFixed(0)} MB tar, ${(layer.gzBytes / 1e6).toFixed(0)} MB gzip; ${rounds} rounds`);
  const samples = await interleave(variants, rounds, log);
  const rows = [];
  const tarPlain = summarize(samples.get('tar -xf'));
  const tarGz = summarize(samples.get('tar -xzf'));
  for (const [name, against] of [
    ['tar -xf', tarPlain],
    ['tar -xf + sha256sum', tarPlain],
    ['applyLayer', tarPlain],
    ['tar -xzf', tarGz],
    ['applyLayer gzip', tarGz],
  ]) {
    const s = summarize(samples.get(name));
    rows.push({ name, ns: s.median, vsTar: ratio(s, against), ...(name === 'applyLayer' ? { vsTarHashed: ratio(s, summarize(samples.get('tar -xf + sha256sum'))) } : {}) });
  }
  if (ntRounds) {
    const v = extractVariant('node-tar x()', layer.dir, (out) => nt.x({ file: layer.tar, cwd: out, preserveOwner: true }));
    const ns = (await v.run())[0];
    rows.push({ name: 'node-tar x()', ns, vsTar: ns / tarPlain.median });
  }
  results.apply = rows;
  rmSync(layer.dir, { recursive: true, force: true });
}

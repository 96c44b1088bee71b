/**
 * The store section of `npm run bench`: what a user of Docker's overlay2 would compare.
 * - import: an image of the 17k-entry layer into a store (apply + tar-split + records) against
 *   GNU `tar -xf` of the same layer, and applyLayer without the tar-split (what keeping it costs);
 *   importing a second image on the same base costs nothing for the base.
 * - df: `store.df()` on a store of many unmounted containers against `du -sb` of the store's
 *   overlay/ (a walk of every writable layer: what `docker system df` does), and df --verify.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeLayerTars } from './layers.mjs';
import { interleave, now, ratio, since, summarize } from './stats.mjs';

function fresh(dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function benchStore({ lib, base, run, log, rounds, results, quick }) {
  const layer = makeLayerTars(base, run);
  const layout = join(base, 'store-layout');
  fresh(layout);
  await lib.writeOciLayout(layout, { layers: [{ path: layer.tar }], ref: 'big' });
  let n = 0;
  const variant = (name, fn) => ({
    name,
    k: 1,
    warm: 1,
    run: async () => {
      const out = join(base, `store-${n++}`);
      fresh(out);
      const t0 = now();
      await fn(out);
      const ns = since(t0);
      rmSync(out, { recursive: true, force: true });
      return [ns];
    },
  });
  const variants = [
    variant('tar -xf', async (out) => {
      const r = spawnSync('tar', ['-xf', layer.tar, '-C', out]);
      if (r.status !== 0) throw new Error(`tar -xf: ${r.stderr}`);
    }),
    variant('applyLayer', (out) => lib.applyLayer(layer.tar, join(out, 'l'))),
    variant('applyLayer + tarSplit', (out) => lib.applyLayer(layer.tar, join(out, 'l'), { tarSplit: join(out, 'split.gz') })),
    variant('store.importImage', async (out) => {
      const store = await lib.openStore({ root: out });
      await store.importImage(layout, { tag: 'big' });
    }),
  ];
  log(`store import: ${layer.entries} entries; ${rounds} rounds`);
  const samples = await interleave(variants, rounds, log);
  const tar = summarize(samples.get('tar -xf'));
  const rows = variants.map((v) => {
    const s = summarize(samples.get(v.name));
    return { name: v.name, ns: s.median, vsTar: ratio(s, tar) };
  });

  // A second image on the same base: nothing to apply.
  const root = fresh(join(base, 'store-shared'));
  const store = await lib.openStore({ root });
  await store.importImage(layout, { tag: 'big' });
  const t0 = now();
  await store.importImage(layout, { tag: 'big2' });
  rows.push({ name: 'store.importImage, base already in the store', ns: since(t0), vsTar: since(t0) / tar.median });
  results.storeImport = rows;
  rmSync(root, { recursive: true, force: true });

  // df over many unmounted containers, each with a writable layer of small files.
  const containers = quick ? 20 : 100;
  const files = 1000;
  const dfRoot = fresh(join(base, 'store-df'));
  const dfStore = await lib.openStore({ root: dfRoot });
  const small = join(base, 'store-small');
  fresh(small);
  await lib.writeOciLayout(small, { layers: [{ data: run('tar', ['-cf', '-', '-C', '/usr/include', 'stdio.h'], { encoding: 'buffer' }) }], ref: 'small' });
  await dfStore.importImage(small, { tag: 'small' });
  for (let i = 0; i < containers; i++) {
    const c = await dfStore.createContainer('small', { name: `c${i}` });
    const diff = join(c.merged, '..', 'diff');
    for (let f = 0; f < files; f++) {
      if (f % 100 === 0) mkdirSync(join(diff, `d${f / 100}`));
      writeFileSync(join(diff, `d${Math.floor(f / 100)}`, `f${f}`), 'x'.repeat(100));
    }
    // As an unmount leaves it: the size recorded.
    await dfStore.mountContainer(`c${i}`);
    await dfStore.unmountContainer(`c${i}`);
  }
  const dfVariants = [
    {
      name: 'du -sb overlay/',
      k: 1,
      run: async () => {
        const t = now();
        const r = spawnSync('du', ['-sb', join(dfRoot, 'overlay')]);
        if (r.status !== 0) throw new Error(`du: ${r.stderr}`);
        return [since(t)];
      },
    },
    { name: 'store.df()', k: 1, run: async () => { const t = now(); await dfStore.df(); return [since(t)]; } },
    { name: 'store.df({ verify: true })', k: 1, run: async () => { const t = now(); await dfStore.df({ verify: true }); return [since(t)]; } },
  ];
  log(`store df: ${containers} containers × ${files} files; ${rounds} rounds`);
  const dfSamples = await interleave(dfVariants, rounds, log);
  const du = summarize(dfSamples.get('du -sb overlay/'));
  results.storeDf = dfVariants.map((v) => {
    const s = summarize(dfSamples.get(v.name));
    return { name: v.name, ns: s.median, vsDu: ratio(s, du) };
  });
  results.config.store = { entries: layer.entries, containers, files, rounds };
  rmSync(dfRoot, { recursive: true, force: true });
  rmSync(small, { recursive: true, force: true });
  rmSync(layout, { recursive: true, force: true });
  rmSync(layer.dir, { recursive: true, force: true });
}

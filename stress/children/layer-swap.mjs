// Scenario "layer-swap": mounts while another process (the racer, started by stress/run.mjs)
// swaps lower[0] with a decoy directory in a loop (renameat2 RENAME_EXCHANGE). Config: { root,
// inodes: { a, decoy }, runs: [[strategy | null, seconds], ...] }; root holds a/ and decoy/
// (each with a file `which` naming it), base/, u/ and m/; `inodes` are the two directories'
// inodes, stat'ed by the parent before the racer started (here, they could be swapped already).
//
// What "wrong" means, and why the count is sound: a mount is wrong when the directory the
// kernel mounted as lower[0] is not the directory validation checked. Both sides are read
// directly, never inferred from timing:
// - what validation checked: the library's own validateTask result (device and inode of
//   lower[0]), observed through a module hook (validate-hooks.mjs, validate-spy.mjs) that
//   wraps the real function without changing it; exactly one result per attempt, or the run
//   is void (the hook did not take);
// - what was mounted: the content of m/which, read through the mount. A directory keeps its
//   inode wherever the racer moves it, so `which` names the directory, and its inode (stat'ed
//   before the racer starts) is compared with the validated one. A validated inode that is
//   neither directory's voids the count too.
// A wrong mount is therefore one the library validated and then mounted something else for;
// the racer's timing only decides how often the window is hit.
import { register } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { config, emit, errorOf, exitIfOrphaned } from './common.mjs';

register('./validate-hooks.mjs', import.meta.url);
const c = config();
// The per-module build (tsc's dist/mount/), not the bundle: the hook swaps a module import there.
const { mountOverlaySync } = await import('../../dist/mount/overlay.js');

const inode = c.inodes;
const spec = { lower: [join(c.root, 'a'), join(c.root, 'base')], upper: join(c.root, 'u'), work: join(c.root, 'w'), target: join(c.root, 'm') };

emit({ type: 'ready' });
for (const [strategy, seconds] of c.runs) {
  const s = strategy === null ? spec : { ...spec, strategy };
  const r = { strategy, used: new Set(), mounted: 0, refused: 0, wrong: 0, errors: 0, unobserved: 0, samples: [] };
  const sample = (what) => r.samples.length < 10 && r.samples.push(what);
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    exitIfOrphaned();
    globalThis.__ovlValidated = [];
    let m;
    try {
      m = mountOverlaySync(s);
    } catch (e) {
      if (e?.code === 'ERR_LAYER_CHANGED') r.refused++;
      else {
        r.errors++;
        sample({ error: errorOf(e) });
      }
      continue;
    }
    try {
      r.mounted++;
      r.used.add(m.strategy);
      const validated = globalThis.__ovlValidated;
      if (validated.length !== 1) {
        r.unobserved++;
        continue;
      }
      const seen = validated[0].get('lower[0]').ino;
      if (seen !== inode.a && seen !== inode.decoy) {
        r.unobserved++;
        sample({ validatedInode: seen, inodes: inode });
        continue;
      }
      const which = readFileSync(join(spec.target, 'which'), 'utf8');
      if (seen !== inode[which]) r.wrong++;
    } finally {
      m.unmountSync();
    }
  }
  emit({ type: 'result', ...r, used: [...r.used] });
}
process.exit(0);

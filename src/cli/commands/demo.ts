/**
 * `ovl demo`: the docs' three-layer example, run for real in a temporary directory, printing
 * each step and what it shows. Everything it makes is removed at the end, also on failure.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { changes, formatChange } from '../../layers/changes.js';
import { resolvePath } from '../../layers/lookup.js';
import { whiteoutKind } from '../../layers/markers.js';
import type { OverlayMount } from '../../mount/handle.js';
import { mountOverlay } from '../../mount/overlay.js';
import { formatPlan } from '../../mount/plan.js';
import { probe } from '../../mount/probe.js';
import { inspect } from '../../read/inspect.js';
import { readMountInfo } from '../../read/mountinfo.js';
import { err, out, paint } from '../output.js';

const LAYERS: Record<'base' | 'app' | 'config', Record<string, string>> = {
  base: {
    'etc/os-release': 'NAME="Demo Linux"\nVERSION_ID="1.0"\n',
    'etc/app/config.json': '{ "port": 8000, "debug": false }\n',
    'bin/sh': '#!/bin/sh\necho "a shell from the base layer"\n',
    'lib/libc.so.6': 'not really a C library\n',
  },
  app: {
    'app/server.py': 'print("hello from the app layer")\n',
    'app/requirements.txt': 'flask==3.0\n',
  },
  config: {
    'etc/app/config.json': '{ "port": 8080, "debug": true }\n',
  },
};

function step(n: number, title: string): void {
  out();
  out(paint(process.stdout, 'bold', `${n}. ${title}`));
}

const show = (line: string) => out(`   ${line}`);

export async function runDemo(): Promise<number> {
  const caps = await probe();
  if (!caps.canMount) {
    err('ovl demo mounts an overlay, which needs CAP_SYS_ADMIN. Run it as root:');
    err('    sudo npx ovl demo');
    err('or, without root, inside a new user and mount namespace:');
    err('    unshare -Urm npx ovl demo');
    return 1;
  }
  const root = mkdtempSync(join(tmpdir(), 'ovl-demo-'));
  let mount: OverlayMount | undefined;
  try {
    step(1, `Build three layers in ${root}`);
    for (const [layer, files] of Object.entries(LAYERS)) {
      for (const [rel, content] of Object.entries(files)) {
        const path = join(root, 'layers', layer, rel);
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content);
      }
      show(`${layer.padEnd(7)} ${Object.keys(files).map((f) => `/${f}`).join('  ')}`);
    }
    const lower = ['config', 'app', 'base'].map((l) => join(root, 'layers', l));
    const upper = join(root, 'container', 'upper');
    const work = join(root, 'container', 'work');
    const target = join(root, 'container', 'merged');
    mkdirSync(upper, { recursive: true });
    mkdirSync(target, { recursive: true });

    step(2, 'Mount them: lowerdir = config:app:base (top first), with an upper and a work dir');
    mount = await mountOverlay({ lower, upper, work, target });
    for (const line of formatPlan(mount.plan).split('\n')) show(line);
    show(paint(process.stdout, 'green', `mounted at ${target} (mount id ${mount.mountId})`));

    const layers = [upper, ...lower];
    const names = ['upper', 'config', 'app', 'base'];
    const serve = async (p: string) => {
      const r = await resolvePath(layers, p);
      return r.found ? `${names[r.layer]} (${r.realPath})` : r.whiteout ? `whited out in ${names[r.layer]}` : 'not found';
    };

    step(3, 'Read /etc/app/config.json: the topmost layer that has it wins');
    show(`content: ${readFileSync(join(target, 'etc/app/config.json'), 'utf8').trim()}`);
    show(`served by: ${await serve('/etc/app/config.json')}`);
    show(`the base layer's copy is hidden: ${LAYERS.base['etc/app/config.json']!.trim()}`);

    step(4, 'Write it: the file is copied up into upperdir first');
    writeFileSync(join(target, 'etc/app/config.json'), '{ "port": 9090, "debug": true }\n');
    show(`upper now has: ${readFileSync(join(upper, 'etc/app/config.json'), 'utf8').trim()}`);
    show(`config layer still has: ${readFileSync(join(lower[0]!, 'etc/app/config.json'), 'utf8').trim()}`);
    show(`served by: ${await serve('/etc/app/config.json')}`);

    step(5, 'Delete /bin/sh (a base file): the kernel leaves a whiteout in upperdir');
    unlinkSync(join(target, 'bin/sh'));
    const wh = lstatSync(join(upper, 'bin/sh'));
    show(`upper/bin/sh: character device ${wh.rdev >> 8}/${wh.rdev & 0xff}, mode ${(wh.mode & 0o7777).toString(8).padStart(3, '0')} (${await whiteoutKind(join(upper, 'bin/sh'))} whiteout)`);
    show(`base/bin/sh is still on disk: ${lstatSync(join(lower[2]!, 'bin/sh')).isFile()}`);
    show(`/bin/sh in the merged view: ${await serve('/bin/sh')}`);

    step(6, 'Look at the mount from outside');
    const entry = (await readMountInfo()).find((e) => e.mountId === mount!.mountId);
    if (entry) {
      const opts = [...entry.mountOptions, ...entry.superOptions.filter((o) => o !== 'rw' && o !== 'ro')];
      show(`mount:   ${entry.source} on ${entry.mountPoint} type ${entry.fsType} (${opts.join(',')})`);
    }
    show(`docker inspect --format '{{json .GraphDriver.Data}}':`);
    show(`   ${JSON.stringify(await inspect(target))}`);
    show('docker diff (A added, C changed, D deleted):');
    for await (const c of changes(upper, lower)) show(`   ${formatChange(c)}`);

    step(7, 'Unmount and clean up');
    await mount.unmount({ cleanWorkdir: true });
    show(`unmounted; ${target} is empty again: ${JSON.stringify(readdirSync(target))}`);
    mount = undefined;
    return 0;
  } finally {
    if (mount?.mounted) await mount.unmount({ detach: true }).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    const leftover = (await readMountInfo()).filter((e) => e.mountPoint.startsWith(root));
    if (leftover.length === 0) show(`removed ${root}; nothing is left mounted`);
    else err(`ovl demo: still mounted: ${leftover.map((e) => e.mountPoint).join(', ')}`);
  }
}


/**
 * Reading overlays back from the kernel: mountinfo and statmount parse back to exactly the
 * paths mounted (500 lowerdir+ layers; legacy paths with every character that needs escaping),
 * and inspectSync() prints docker's GraphDriver.Data for legacy, lowerdir+ and fd mounts.
 */
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';
import {
  escapeLegacyPath,
  findOverlaySync,
  FSCONFIG,
  inspectSync,
  listOverlaysSync,
  mountOverlaySync,
  MOVE_MOUNT,
  O,
  parseOverlayOptions,
  readMountInfoSync,
  STATMOUNT,
  STATX,
  sys,
  tmpfsMountSync,
  type OverlayOptions,
  type Step,
  type Strategy,
} from '../../src/index.js';
import { caughtSync, expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged, describeWithKernel, itWithKernel, strategyNeeds, type KernelFeature } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/** The overlay's options, unescaped by statmount(STATMOUNT_OPT_ARRAY). */
function statmountOptions(target: string): string[] {
  const id = sys.statxSync(target, { mask: STATX.MNT_ID_UNIQUE }).mountId!;
  const r = sys.statmountSync(id, STATMOUNT.OPT_ARRAY);
  expect(r.optionArray).toBeDefined();
  return r.optionArray!;
}

/** The mountinfo entry at `target` (the top one). */
function mountInfoAt(target: string) {
  const e = readMountInfoSync().filter((m) => m.mountPoint === target).at(-1);
  expect(e?.fsType).toBe('overlay');
  return e!;
}

/**
 * fsopen, one fsconfig per layer (a string, or an O_PATH fd opened first), create, fsmount,
 * move_mount: a mount this process's registry knows nothing of.
 */
function rawNewApiMount(layers: { lower: string[]; upper?: string; work?: string }, target: string, byFd: boolean): void {
  const steps: Step[] = [];
  const entries: Array<[string, string]> = [...layers.lower.map((p): [string, string] => ['lowerdir+', p])];
  if (layers.upper !== undefined) entries.push(['upperdir', layers.upper], ['workdir', layers.work!]);
  const fds = byFd ? entries.map(([, p]) => steps.push({ op: 'open', path: p, flags: O.PATH | O.DIRECTORY }) - 1) : [];
  const fs = steps.push({ op: 'fsopen', fsname: 'overlay' }) - 1;
  entries.forEach(([key, p], i) =>
    steps.push(byFd ? { op: 'fsconfigSetFd', fs, key, fd: fds[i]! } : { op: 'fsconfigSetString', fs, key, value: p }),
  );
  steps.push({ op: 'fsconfigCreate', fs });
  const mnt = steps.push({ op: 'fsmount', fs }) - 1;
  steps.push({ op: 'moveMount', from: mnt, fromPath: '', toPath: target, flags: MOVE_MOUNT.F_EMPTY_PATH });
  sys.runStepsSync(steps);
}

describeWithKernel(['lowerdirPlus', 'statmountOptionArray'], 'mountinfo and statmount: a 500-layer lowerdir+ mount', () => {
  it('parses back to the same 500 paths from mountinfo (a ~40 KB line), statmount, findOverlay and listOverlays', () => {
    const root = tempDir();
    const fs = tmpfsMountSync(root);
    try {
      const specials = [' ', ',', '\\', ':', '\t', '\n', '=', '#', '\\054'];
      const paths = Array.from({ length: 500 }, (_, i) => {
        const special = i % 50 === 0 ? specials[(i / 50) % specials.length] : '';
        return join(root, 'layers', `layer-${String(i).padStart(3, '0')}${special}-${'x'.repeat(48)}`);
      });
      for (const p of paths) mkdirSync(p, { recursive: true });
      writeTree(join(root, 'layers', `layer-499-${'x'.repeat(48)}`), { 'bottom.txt': 'bottom' });
      const target = writeTree(join(root, 'm'), {});
      rawNewApiMount({ lower: paths }, target, false);
      try {
        const line = readFileSync('/proc/self/mountinfo', 'utf8')
          .split('\n')
          .find((l) => l.includes(' overlay ') && l.includes('layer-000'));
        expect(line!.length).toBeGreaterThan(30_000);

        const entry = mountInfoAt(target);
        const fromMountinfo = parseOverlayOptions(entry.superOptions);
        expect(fromMountinfo.form).toBe('lowerdir+');
        expect(fromMountinfo.lower).toEqual(paths);
        expect(fromMountinfo.upper).toBeUndefined();

        const fromStatmount = parseOverlayOptions(statmountOptions(target));
        expect(fromStatmount.lower).toEqual(paths);

        const info = findOverlaySync(target)!;
        expect(info.lower).toEqual(paths);
        expect(info.from).toBe('statmount');
        expect(info.readOnly).toBe(true);
        expect(info.pathsKnown).toBe(true);
        expect(info.strategy).toBeUndefined();
        expect(listOverlaysSync().find((o) => o.mountId === entry.mountId)?.lower).toEqual(paths);
        expect(inspectSync(target)).toEqual({ LowerDir: paths.join(':'), MergedDir: target, UpperDir: '', WorkDir: '' });
        expect(readFileSync(join(target, 'bottom.txt'), 'utf8')).toBe('bottom');
      } finally {
        sys.umount2Sync(target);
      }
      expectUnmounted(target);
    } finally {
      fs.unmountSync();
    }
  });
});

describePrivileged('mountinfo and statmount: a legacy mount with escaped paths', () => {
  /** Layer names with every character mount(2) data or mountinfo escapes. */
  function escapedLayers(root: string) {
    const at = (name: string) => writeTree(join(root, name), {});
    return {
      lower: [at('lo:colon'), at('lo,comma'), at('lo\\back\\slash'), at('lo space'), at('lo\nnew\nline'), at('lo\\:both,\\,')],
      data: [at('data::x'), at('data\\054 \t')],
      upper: at('up:p,er\\ x\n'),
      work: at('wo:r,k\\ y\n'),
      target: at('merged \\ x\n:y,z'),
    };
  }

  /** mount(2) of the escaped layers, as another tool would make it. */
  function mountEscaped(x: ReturnType<typeof escapedLayers>): void {
    const data =
      `lowerdir=${x.lower.map(escapeLegacyPath).join(':')}::${x.data.map(escapeLegacyPath).join('::')}` +
      `,upperdir=${escapeLegacyPath(x.upper)},workdir=${escapeLegacyPath(x.work)}`;
    sys.mountSync('overlay', x.target, 'overlay', { data });
  }

  function expectSeen(seen: ReturnType<typeof parseOverlayOptions>, x: ReturnType<typeof escapedLayers>): void {
    expect(seen.form).toBe('legacy');
    expect({ lower: seen.lower, data: seen.data, upper: seen.upper, work: seen.work }).toEqual({ lower: x.lower, data: x.data, upper: x.upper, work: x.work });
  }

  it('parses back exactly: mountinfo, findOverlay, inspect (mount(2), not ours)', () => {
    const x = escapedLayers(tempDir());
    mountEscaped(x);
    try {
      const entry = mountInfoAt(x.target);
      expect(entry.source).toBe('overlay');
      expectSeen(parseOverlayOptions(entry.superOptions), x);
      const info = findOverlaySync(x.target)!;
      expect({ lower: info.lower, data: info.data, upper: info.upper, work: info.work, target: info.target }).toEqual(x);
      expect(info.pathsKnown).toBe(true);
      expect(info.strategy).toBeUndefined();
      expect(inspectSync(x.target)).toEqual({ LowerDir: x.lower.join(':'), MergedDir: x.target, UpperDir: x.upper, WorkDir: x.work });
    } finally {
      sys.umount2Sync(x.target);
    }
    expectUnmounted(x.target);
  });

  itWithKernel('statmountOptionArray', 'parses back exactly from statmount(STATMOUNT_OPT_ARRAY) too', () => {
    const x = escapedLayers(tempDir());
    mountEscaped(x);
    try {
      expectSeen(parseOverlayOptions(statmountOptions(x.target)), x);
    } finally {
      sys.umount2Sync(x.target);
    }
    expectUnmounted(x.target);
  });

  for (const strategy of ['legacy', 'lowerdir+', 'fd'] as const) {
    // Data-only layers need datadir+ with the new mount API; statmount is asked below.
    const needs: KernelFeature[] = [...strategyNeeds(strategy), ...(strategy === 'legacy' ? [] : ['datadirPlus' as const]), 'statmountOptionArray'];
    itWithKernel(needs, `mountOverlay with strategy '${strategy}': the kernel shows the same paths (fds by their real paths)`, () => {
      const x = escapedLayers(tempDir());
      const m = mountOverlaySync({ lower: x.lower, data: x.data, upper: x.upper, work: x.work, target: x.target, strategy });
      try {
        const seen = parseOverlayOptions(mountInfoAt(x.target).superOptions);
        expect(seen.form).toBe(strategy === 'legacy' ? 'legacy' : 'lowerdir+');
        expect({ lower: seen.lower, data: seen.data }).toEqual({ lower: x.lower, data: x.data });
        if (strategy === 'fd') {
          // An fd-given upper/work shows as its raw d_path, while a string-given one shows the
          // caller's string with the backslash escapes the kernel removed: mountinfo cannot tell
          // which, so only this process's record knows the real paths (checked below).
          expect(statmountOptions(x.target)).toEqual(expect.arrayContaining([`upperdir=${x.upper}`, `workdir=${x.work}`]));
        } else expect({ upper: seen.upper, work: seen.work }).toEqual({ upper: x.upper, work: x.work });
        // statmount gives the same, less the superblock's rw/ro flag that mountinfo puts first.
        expect(parseOverlayOptions(statmountOptions(x.target))).toEqual({ ...seen, options: seen.options.filter(([k]) => k !== 'rw') });
        const info = findOverlaySync(x.target)!;
        expect(info.strategy).toBe(strategy);
        expect(inspectSync(x.target)).toEqual({ LowerDir: x.lower.join(':'), MergedDir: x.target, UpperDir: x.upper, WorkDir: x.work });
      } finally {
        m.unmountSync();
      }
      expectUnmounted(x.target);
    });
  }
});

describePrivileged("inspectSync(): docker's GraphDriver.Data, and the typed options", () => {
  function stack() {
    const root = tempDir();
    writeTree(root, { 'a/from-a.txt': 'a', 'b/from-b.txt': 'b', 'upper/': null, 'work/': null, 'm/': null });
    const at = (p: string) => join(root, p);
    return { a: at('a'), b: at('b'), upper: at('upper'), work: at('work'), target: at('m') };
  }

  const docker = (x: ReturnType<typeof stack>) => `{"LowerDir":"${x.a}:${x.b}","MergedDir":"${x.target}","UpperDir":"${x.upper}","WorkDir":"${x.work}"}`;

  const CASES: Array<[Strategy, OverlayOptions, Record<string, unknown>]> = [
    ['legacy', { redirectDir: 'on', index: 'on' }, { redirectDir: 'on', index: 'on' }],
    ['lowerdir+', { metacopy: 'on', index: 'on' }, { metacopy: 'on', index: 'on', redirectDir: 'on' }],
    ['fd', { userxattr: true }, { userxattr: true }],
    ['lowerdir+', { redirectDir: 'on', metacopy: 'on', index: 'on', xino: 'on' }, { redirectDir: 'on', metacopy: 'on', index: 'on' }],
  ];

  for (const [strategy, options, typed] of CASES) {
    itWithKernel(strategyNeeds(strategy), `mountOverlay '${strategy}' with ${JSON.stringify(options)}: the exact JSON, options, strategy and byFd`, () => {
      const x = stack();
      const m = mountOverlaySync({ lower: [x.a, x.b], upper: x.upper, work: x.work, target: x.target, strategy, options });
      try {
        expect(JSON.stringify(inspectSync(x.target))).toBe(docker(x));
        const info = findOverlaySync(x.target)!;
        expect(info.options).toMatchObject(typed);
        expect(info.mountId).toBe(m.mountId);
        expect(info.strategy).toBe(strategy);
        expect(info.byFd).toEqual(strategy === 'fd' ? ['lower[0]', 'lower[1]', 'upper', 'work'] : []);
        expect(info.form).toBe(strategy === 'legacy' ? 'legacy' : 'lowerdir+');
        expect(info.readOnly).toBe(false);
        // What the kernel itself shows: for plain O_PATH fds it prints their real paths too.
        const seen = parseOverlayOptions(mountInfoAt(x.target).superOptions);
        expect({ lower: seen.lower, upper: seen.upper, work: seen.work }).toEqual({ lower: [x.a, x.b], upper: x.upper, work: x.work });
        expect(listOverlaysSync().find((o) => o.mountId === m.mountId)?.strategy).toBe(strategy);
      } finally {
        m.unmountSync();
      }
      expectUnmounted(x.target);
      // Unmounted: no record left, and nothing to inspect.
      expect(listOverlaysSync().find((o) => o.mountId === m.mountId)).toBeUndefined();
      expect(caughtSync(() => inspectSync(x.target)).code).toBe('ERR_NOT_OVERLAY');
    });
  }

  for (const byFd of [false, true]) {
    const needs: KernelFeature[] = ['lowerdirPlus', ...(byFd ? ['layersByFd' as const] : []), 'statmountOptionArray'];
    itWithKernel(needs, `a lowerdir+ mount made ${byFd ? 'with O_PATH fds' : 'with strings'} outside the library: read from the kernel alone`, () => {
      const x = stack();
      rawNewApiMount({ lower: [x.a, x.b], upper: x.upper, work: x.work }, x.target, byFd);
      try {
        expect(JSON.stringify(inspectSync(x.target))).toBe(docker(x));
        const info = findOverlaySync(x.target)!;
        expect(info.strategy).toBeUndefined();
        expect(info.byFd).toBeUndefined();
        expect(info.pathsKnown).toBe(true);
        expect(info.from).toBe('statmount');
        expect(info.source).toBe('none');
      } finally {
        sys.umount2Sync(x.target);
      }
      expectUnmounted(x.target);
    });
  }

  it('relative paths are shown as given (the kernel does not canonicalise): paths not known', () => {
    const x = stack();
    const rel = (p: string) => relative(process.cwd(), p);
    expect(rel(x.a).startsWith('/')).toBe(false);
    sys.mountSync('overlay', x.target, 'overlay', { data: `lowerdir=${rel(x.a)}:${rel(x.b)},upperdir=${rel(x.upper)},workdir=${rel(x.work)}` });
    try {
      const info = findOverlaySync(x.target)!;
      expect(info.lower).toEqual([rel(x.a), rel(x.b)]);
      expect(info.upper).toBe(rel(x.upper));
      expect(info.pathsKnown).toBe(false);
    } finally {
      sys.umount2Sync(x.target);
    }
    expectUnmounted(x.target);
  });

  it('a target named through a symlink, or with a trailing slash, finds the mount', () => {
    const x = stack();
    const link = join(x.target, '..', 'link-to-m');
    symlinkSync(x.target, link);
    const m = mountOverlaySync({ lower: [x.a, x.b], upper: x.upper, work: x.work, target: x.target });
    try {
      expect(findOverlaySync(`${x.target}/`)?.mountId).toBe(m.mountId);
      expect(findOverlaySync(link)?.mountId).toBe(m.mountId);
      expect(JSON.stringify(inspectSync(link))).toBe(docker(x));
    } finally {
      m.unmountSync();
    }
    expect(findOverlaySync(link)).toBeUndefined();
  });

  it('a writable overlay mounted read-only keeps its UpperDir and WorkDir', () => {
    const x = stack();
    const m = mountOverlaySync({ lower: [x.a, x.b], upper: x.upper, work: x.work, target: x.target, attributes: { readOnly: true } });
    try {
      expect(JSON.stringify(inspectSync(x.target))).toBe(docker(x));
      expect(findOverlaySync(x.target)?.readOnly).toBe(true);
    } finally {
      m.unmountSync();
    }
  });

  // findOverlay reads statmount's option array where the kernel has one (`from`, checked below).
  itWithKernel('statmountOptionArray', 'a read-only overlay has empty UpperDir and WorkDir; a non-overlay or covered target is refused', () => {
    const x = stack();
    const m = mountOverlaySync({ lower: [x.a, x.b], target: x.target });
    try {
      expect(JSON.stringify(inspectSync(x.target))).toBe(`{"LowerDir":"${x.a}:${x.b}","MergedDir":"${x.target}","UpperDir":"","WorkDir":""}`);
      const findOverlayBefore = findOverlaySync(x.target)!;
      expect(findOverlayBefore.readOnly).toBe(true);
      expect(findOverlayBefore.from).toBe('statmount');
      // A tmpfs on top of the overlay: the top mount there is no overlay.
      const cover = tmpfsMountSync(x.target);
      try {
        expect(findOverlaySync(x.target)).toBeUndefined();
        // Still listed, read from mountinfo: statmount is asked by path, which now reaches the tmpfs.
        const covered = listOverlaysSync().find((o) => o.mountId === m.mountId)!;
        expect(covered.from).toBe('mountinfo');
        expect(covered.lower).toEqual([x.a, x.b]);
        expect(covered.options).toEqual(findOverlayBefore.options);
        const err = caughtSync(() => inspectSync(x.target));
        expect(err.code).toBe('ERR_NOT_OVERLAY');
        expect(err.path).toBe(x.target);
      } finally {
        cover.unmountSync();
      }
      expect(findOverlaySync(x.target)?.mountId).toBe(m.mountId);
    } finally {
      m.unmountSync();
    }
    expect(caughtSync(() => inspectSync(x.upper)).code).toBe('ERR_NOT_OVERLAY');
  });
});

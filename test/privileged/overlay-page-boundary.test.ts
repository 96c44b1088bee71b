import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mountOverlay, mountOverlaySync, plan, probeSync, sys, type OverlaySpec } from '../../src/index.js';
import { parseOverlayOptions, readMountInfoSync } from '../../src/read/mountinfo.js';
import { snapshot } from '../helpers/example.js';
import { expectUnmounted } from '../helpers/overlay.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

/**
 * Legacy mount(2) data is one page with its last byte forced to NUL: 4095 bytes arrive whole,
 * a 4096th would be cut. Two layers, the second nested to a length that makes the data exactly
 * `total` bytes, with a ',' in it (escaped, so it counts twice). Next to the second layer is a
 * decoy whose name lacks the last character: data cut by one byte would mount the decoy.
 */
function atBoundary(total: number, withUpper: boolean): { spec: OverlaySpec; top: string; bottom: string } {
  const root = tempDir();
  const top = writeTree(join(root, 'top'), { 'from-top': 'top' });
  const upper = join(root, 'u');
  const work = join(root, 'w');
  const target = writeTree(join(root, 'm'), {});
  const base: OverlaySpec = withUpper ? { lower: [top], upper, work, target, strategy: 'legacy' } : { lower: [top], target, strategy: 'legacy' };
  if (withUpper) mkdirSync(upper);

  let dir = join(root, 'c,d');
  // The data as the kernel reads it: `\`, `:` and `,` escaped with a backslash.
  const esc = (p: string) => p.replace(/[\\:,]/g, (c) => `\\${c}`);
  const bytesWith = (bottom: string) =>
    Buffer.byteLength(`lowerdir=${esc(top)}:${esc(bottom)}` + (withUpper ? `,upperdir=${esc(upper)},workdir=${esc(work)}` : ''));
  // Nest 200-byte components until one last component of at most 255 bytes reaches `total`.
  for (;;) {
    const rest = total - bytesWith(join(dir, 'x'));
    if (rest + 1 <= 255) {
      dir = join(dir, 'x'.repeat(rest + 1));
      break;
    }
    dir = join(dir, 'd'.repeat(200));
  }
  const bottom = dir;
  writeTree(bottom, { 'from-bottom': 'bottom' });
  writeTree(bottom.slice(0, -1), { 'from-decoy': 'the data was cut' });
  const spec = { ...base, lower: [top, bottom] };
  expect(bytesWith(bottom)).toBe(total);
  return { spec, top, bottom };
}

describePrivileged('legacy mount(2) data at the page boundary', () => {
  it('4095 bytes: mounted as given, absolute paths, both layers whole (sync)', () => {
    const { spec, top, bottom } = atBoundary(4095, false);
    const p = plan(spec, probeSync());
    expect(p.dataBytes).toBe(4095);
    expect(p.reason).toBe('forced: mount(2) with an option string');
    expect(p.steps[0]?.step.op).toBe('mount');
    const m = mountOverlaySync(spec);
    try {
      expect(snapshot(spec.target)).toEqual({ 'from-top': 'top', 'from-bottom': 'bottom' });
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === m.mountId)!.superOptions);
      expect(seen.lower).toEqual([top, bottom]);
    } finally {
      m.unmountSync();
    }
    expectUnmounted(spec.target);
  });

  it('4096 bytes: switched to paths relative to the common parent, never cut (Promise)', async () => {
    const { spec, bottom } = atBoundary(4096, false);
    const p = plan(spec, probeSync());
    expect(p.reason).toMatch(/4096 bytes of absolute paths exceed one page, so layers are given relative to /);
    expect(p.dataBytes).toBeLessThan(4096);
    const m = await mountOverlay(spec);
    try {
      expect(snapshot(spec.target)).toEqual({ 'from-top': 'top', 'from-bottom': 'bottom' });
      const seen = parseOverlayOptions(readMountInfoSync().find((e) => e.mountId === m.mountId)!.superOptions);
      const parent = join(spec.lower[0]!, '..');
      expect(seen.lower).toEqual(['top', bottom.slice(parent.length + 1)]);
    } finally {
      await m.unmount();
    }
    expectUnmounted(spec.target);

    // The fixture can tell: the same 4096 bytes given to mount(2) as they are mount the decoy.
    const esc = (p: string) => p.replace(/[\\:,]/g, (c) => `\\${c}`);
    const raw = `lowerdir=${esc(spec.lower[0]!)}:${esc(bottom)}`;
    expect(Buffer.byteLength(raw)).toBe(4096);
    sys.mountSync('overlay', spec.target, 'overlay', { data: raw });
    try {
      expect(snapshot(spec.target)).toEqual({ 'from-top': 'top', 'from-decoy': 'the data was cut' });
    } finally {
      sys.umount2Sync(spec.target);
    }
    expectUnmounted(spec.target);
  });

  for (const total of [4095, 4096]) {
    it(`${total} bytes with upper and work in the data: the right layers, writes to the upper`, async () => {
      const { spec } = atBoundary(total, true);
      const p = plan(spec, probeSync());
      if (total === 4095) expect(p.dataBytes).toBe(4095);
      else expect(p.reason).toContain('relative to');
      const m = await mountOverlay(spec);
      try {
        expect(snapshot(spec.target)).toEqual({ 'from-top': 'top', 'from-bottom': 'bottom' });
        writeFileSync(join(spec.target, 'new'), 'n');
        expect(snapshot(spec.upper!)).toEqual({ new: 'n' });
      } finally {
        await m.unmount({ cleanWorkdir: true });
      }
      expectUnmounted(spec.target);
    });
  }
});

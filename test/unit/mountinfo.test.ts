/**
 * /proc/self/mountinfo parsing, and the round trips that matter: what plan() hands the kernel,
 * split and unescaped the kernel's way, then shown the kernel's way, parses back to the spec.
 * The kernel side is simulated from fs/overlayfs/params.c (ovl_next_opt,
 * ovl_parse_param_split_lowerdirs, ovl_unescape, ovl_show_options) and seq_show_option(), and
 * anchored on the lab examples of the reference (§2, §3).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { linux618 } from '../helpers/kernels.js';
import { FSCONFIG } from '../../src/sys/constants.js';
import { escapeBackslashes, escapeLegacyPath, splitLegacyLowerdir, unescapeBackslashes } from '../../src/spec/escape.js';
import { parseMountInfo, parseMountInfoLine, parseOverlayOptions, unescapeOctal } from '../../src/read/mountinfo.js';
import { commonParent, plan } from '../../src/mount/plan.js';
import type { Capabilities } from '../../src/mount/probe.js';
import type { OverlaySpec } from '../../src/spec/types.js';

// ---- the kernel, simulated --------------------------------------------------------------------

/** ovl_next_opt + vfs_parse_monolithic_sep: mount(2) data into [key, value]; escapes stay. */
function kernelMonolithic(data: string): Array<[string, string | null]> {
  const raw: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === '\\') i++; // hides the next character from the split, whatever it is
    else if (data[i] === ',') {
      raw.push(data.slice(start, i));
      start = i + 1;
    }
  }
  raw.push(data.slice(start));
  const out: Array<[string, string | null]> = [];
  for (const opt of raw) {
    if (opt === '') continue;
    const eq = opt.indexOf('=');
    if (eq === 0) continue;
    out.push(eq < 0 ? [opt, null] : [opt.slice(0, eq), opt.slice(eq + 1)]);
  }
  return out;
}

/** ovl_unescape: drops each backslash and keeps the character after it (a final one is dropped). */
function ovlUnescape(s: string): string {
  let d = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    if (i < s.length) d += s[i];
  }
  return d;
}

/**
 * ovl_parse_param_lowerdir: ovl_parse_param_split_lowerdirs (NUL-terminate layers at unescaped
 * colons, keeping escapes; '::' starts data layers), then ovl_unescape of each layer. Throws
 * with the kernel's message where the kernel fails.
 */
function kernelLowerdir(name: string): { lower: string[]; data: string[] } {
  if (name === '') return { lower: [], data: [] };
  if (name[0] === ':') throw new Error('cannot append lower layer');
  const s = name + '\0';
  let d = '';
  let nrColons = 0;
  for (let i = 0; ; i++) {
    if (s[i] === '\\') {
      d += s[i]; // keep esc chars in split lowerdir
      i++;
    } else if (s[i] === ':') {
      nrColons++;
      if (nrColons === 2 && s[i + 1] === ':') throw new Error("only single ':' or double '::' sequences of unescaped colons");
      d += '\0';
      continue;
    }
    d += s[i];
    if (s[i] === '\0') {
      if (nrColons > 0) throw new Error('unescaped trailing colons');
      break;
    }
    nrColons = 0;
  }
  const pieces = d.split('\0').slice(0, -1);
  const out = { lower: [] as string[], data: [] as string[] };
  let inData = false;
  for (let k = 0; k < pieces.length; k++) {
    if (pieces[k] === '') {
      inData = true; // the empty piece between the two colons of '::'
      continue;
    }
    if (!inData && out.data.length > 0) throw new Error('regular lower layers cannot follow data lower layers');
    const layer = ovlUnescape(pieces[k]!);
    if (layer === '') throw new Error('empty lowerdir');
    (inData ? out.data : out.lower).push(layer);
    inData = false;
  }
  return out;
}

/** seq_show_option's value escaping: ',', space, tab, newline and backslash as \ooo. */
const showEscape = (s: string) => s.replace(/[, \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

/** mangle(): the mount point, root and source fields. */
const mangle = (s: string) => s.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

interface KernelMount {
  /** What the kernel looks up. */
  opened: { lower: string[]; data: string[]; upper?: string; work?: string };
  /** The mountinfo line it then shows. */
  line: string;
}

/** ovl_show_options: layers as the caller gave them, in the kernel's order, escaped. */
function mountinfoLine(target: string, shown: Array<[string, string | null]>): string {
  const opts = ['rw', ...shown.map(([k, v]) => (v === null ? k : `${k}=${showEscape(v)}`))].join(',');
  return `612 29 0:91 / ${mangle(target)} rw,relatime shared:301 - overlay overlay ${opts}`;
}

/** mount(2) with legacy data. */
function kernelLegacyMount(target: string, data: string): KernelMount {
  const opened: KernelMount['opened'] = { lower: [], data: [] };
  const layers: Array<[string, string | null]> = [];
  const rest: Array<[string, string | null]> = [];
  for (const [key, value] of kernelMonolithic(data)) {
    if (key === 'lowerdir') {
      Object.assign(opened, kernelLowerdir(value ?? ''));
      layers.unshift([key, value]);
    } else if (key === 'upperdir' || key === 'workdir') {
      opened[key === 'upperdir' ? 'upper' : 'work'] = ovlUnescape(value ?? '');
      layers.push([key, value]);
    } else rest.push([key, value]);
  }
  return { opened, line: mountinfoLine(target, [...layers, ...rest]) };
}

/** fsconfig(FSCONFIG_SET_STRING) calls of the new API. */
function kernelFsconfigMount(target: string, strings: Array<[string, string]>): KernelMount {
  const opened: KernelMount['opened'] = { lower: [], data: [] };
  const shown: { lower: Array<[string, string]>; rw: Array<[string, string]> } = { lower: [], rw: [] };
  for (const [key, value] of strings) {
    if (key === 'lowerdir+') opened.lower.push(value);
    else if (key === 'datadir+') opened.data.push(value);
    else if (key === 'upperdir') opened.upper = ovlUnescape(value);
    else if (key === 'workdir') opened.work = ovlUnescape(value);
    else continue;
    (key === 'upperdir' || key === 'workdir' ? shown.rw : shown.lower).push([key, value]);
  }
  // lowerdir+ entries, then datadir+, then upperdir and workdir.
  const order = (k: string) => (k === 'lowerdir+' ? 0 : 1);
  return { opened, line: mountinfoLine(target, [...shown.lower.sort((a, b) => order(a[0]) - order(b[0])), ...shown.rw]) };
}

/** What our side reads back from the line. */
function readBack(line: string) {
  const seen = parseOverlayOptions(parseMountInfoLine(line).superOptions);
  return { lower: seen.lower, data: seen.data, upper: seen.upper, work: seen.work, form: seen.form };
}

// ---- fixtures ---------------------------------------------------------------------------------

// A big page keeps the legacy data absolute, whatever the generated paths.
const caps618: Capabilities = { ...linux618, pageSize: 1 << 20 };

/** Any character but NUL, with the ones that matter to escaping, splitting and octal often. */
const pathChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(':', ',', '\\', '=', ' ', '\n', '\t', '/', '0', '1', '3', '4', '5', '7') },
  { weight: 2, arbitrary: fc.constantFrom('a', 'b', 'x') },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => c !== '\0') },
);
const name = fc.string({ unit: pathChar, minLength: 1, maxLength: 12 });
const absPath = name.map((n) => `/${n}`);

/** A spec plan() accepts: 1-4 lowers, 0-2 data layers, maybe upper and work. */
const specArb = fc
  .record({
    lower: fc.array(absPath, { minLength: 1, maxLength: 4 }),
    data: fc.array(absPath, { maxLength: 2 }),
    rw: fc.option(fc.tuple(absPath, absPath), { nil: undefined }),
  })
  .filter(({ lower, data, rw }) => rw !== undefined || lower.length + data.length >= 2)
  .map(({ lower, data, rw }): OverlaySpec => ({
    lower,
    ...(data.length > 0 ? { data } : {}),
    ...(rw ? { upper: rw[0], work: rw[1] } : {}),
    target: '/merged',
  }));

const layersOf = (spec: OverlaySpec) => ({
  lower: [...spec.lower],
  data: [...(spec.data ?? [])],
  ...(spec.upper !== undefined ? { upper: spec.upper, work: spec.work } : {}),
});

// ---- the simulation, anchored ------------------------------------------------------------------

describe('the kernel simulation reproduces the reference lab examples', () => {
  const legacyData = 'lowerdir=/x/a\\:b:/x/c\\,d:/x/e f:/x/g\\\\h::/x/d1';

  it('§2: the escaped lowerdir= mounts a:b, c,d, e f, g\\h and data d1', () => {
    expect(kernelLegacyMount('/m', legacyData).opened).toEqual({ lower: ['/x/a:b', '/x/c,d', '/x/e f', '/x/g\\h'], data: ['/x/d1'] });
  });

  it('§3: ...and shows it as the lab saw it', () => {
    const { line } = kernelLegacyMount('/m', legacyData);
    expect(line.split(' ').at(-1)).toBe('rw,lowerdir=/x/a\\134:b:/x/c\\134\\054d:/x/e\\040f:/x/g\\134\\134h::/x/d1');
  });

  it('§3: lowerdir+ values are shown raw, octal-escaped', () => {
    const { line } = kernelFsconfigMount('/m', [
      ['lowerdir+', '/x/a:b'],
      ['lowerdir+', '/x/c,d'],
      ['lowerdir+', '/x/e f'],
      ['lowerdir+', '/x/g\\h'],
      ['datadir+', '/x/d1'],
    ]);
    expect(line.split(' ').at(-1)).toBe('rw,lowerdir+=/x/a:b,lowerdir+=/x/c\\054d,lowerdir+=/x/e\\040f,lowerdir+=/x/g\\134h,datadir+=/x/d1');
  });

  it('§2: the parse errors', () => {
    expect(() => kernelLowerdir('/a:::/b')).toThrow(/only single ':' or double '::'/);
    expect(() => kernelLowerdir('/a::/d:/b')).toThrow(/regular lower layers cannot follow data/);
    expect(() => kernelLowerdir('/a:')).toThrow(/trailing colons/);
    expect(() => kernelLowerdir(':/a')).toThrow(/cannot append/);
  });
});

// ---- parseMountInfoLine -----------------------------------------------------------------------

describe('parseMountInfoLine', () => {
  it('a line with no optional fields (this machine\'s /dev/shm)', () => {
    expect(parseMountInfoLine('30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684084k')).toEqual({
      mountId: 30,
      parentId: 25,
      major: 0,
      minor: 27,
      root: '/',
      mountPoint: '/dev/shm',
      mountOptions: ['rw', 'relatime'],
      optionalFields: [],
      fsType: 'tmpfs',
      source: 'tmpfs',
      superOptions: ['rw', 'size=24684084k'],
    });
  });

  it('the proc(5) example, with an optional field', () => {
    const e = parseMountInfoLine('36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue');
    expect(e).toMatchObject({ mountId: 36, parentId: 35, major: 98, minor: 0, root: '/mnt1', mountPoint: '/mnt/parent' });
    expect(e.optionalFields).toEqual(['master:1']);
    expect(e).toMatchObject({ fsType: 'ext3', source: '/dev/root', superOptions: ['rw', 'errors=continue'] });
  });

  it('several optional fields', () => {
    const e = parseMountInfoLine('101 27 254:0 /srv /srv rw,nosuid shared:12 master:3 propagate_from:3 unbindable - ext4 /dev/vda rw');
    expect(e.optionalFields).toEqual(['shared:12', 'master:3', 'propagate_from:3', 'unbindable']);
    expect(e.fsType).toBe('ext4');
  });

  it('octal escapes in root, mount point, source and super options: \\040 \\011 \\012 \\134 \\054', () => {
    const e = parseMountInfoLine(
      '612 29 0:91 /r\\040t /mnt/a\\040b\\011c\\012d\\134e rw,relatime - overlay my\\040overlay rw,lowerdir+=/x/c\\054d,upperdir=/u\\134\\134x',
    );
    expect(e.root).toBe('/r t');
    expect(e.mountPoint).toBe('/mnt/a b\tc\nd\\e');
    expect(e.source).toBe('my overlay');
    // A comma inside a value was \054, so it does not split the options.
    expect(e.superOptions).toEqual(['rw', 'lowerdir+=/x/c,d', 'upperdir=/u\\\\x']);
  });

  it('an escaped backslash followed by digits stays a backslash and digits', () => {
    // The directory '\123' is shown as \134123: one escape, then literal digits.
    expect(parseMountInfoLine('1 2 0:3 / /m\\134123 rw - tmpfs none rw').mountPoint).toBe('/m\\123');
    expect(unescapeOctal('\\134\\134')).toBe('\\\\');
  });

  it('a 500-layer lowerdir+ line of over 4096 bytes, whole', () => {
    const layers = Array.from({ length: 500 }, (_, i) => `/var/lib/layers/${String(i).padStart(3, '0')}/diff dir`);
    const { line } = kernelFsconfigMount('/merged', [
      ...layers.map((l): [string, string] => ['lowerdir+', l]),
      ['upperdir', '/var/lib/u'],
      ['workdir', '/var/lib/w'],
    ]);
    expect(line.length).toBeGreaterThan(4096 * 4);
    const e = parseMountInfoLine(line);
    expect(e.superOptions).toHaveLength(503);
    expect(parseOverlayOptions(e.superOptions)).toMatchObject({ lower: layers, data: [], upper: '/var/lib/u', work: '/var/lib/w', form: 'lowerdir+' });
  });

  it('parseMountInfo: every line, a trailing newline ignored', () => {
    const text = '30 25 0:27 / /dev/shm rw,relatime - tmpfs tmpfs rw\n27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n';
    expect(parseMountInfo(text).map((e) => [e.mountId, e.mountPoint])).toEqual([
      [30, '/dev/shm'],
      [27, '/'],
    ]);
  });

  it('an empty source (two spaces) is an empty field, not a shift', () => {
    const e = parseMountInfoLine('50 1 0:40 / /x rw - tmpfs  rw,size=1k');
    expect(e).toMatchObject({ fsType: 'tmpfs', source: '', superOptions: ['rw', 'size=1k'] });
  });

  it('refuses what is not a mountinfo line', () => {
    expect(() => parseMountInfoLine('garbage')).toThrow(/not a mountinfo line/);
    expect(() => parseMountInfoLine('30 25 0:27 / /dev/shm rw,relatime tmpfs tmpfs rw')).toThrow(/not a mountinfo line/);
  });
});

// ---- parseOverlayOptions ---------------------------------------------------------------------

describe('parseOverlayOptions', () => {
  it('legacy lowerdir= with escapes and :: data layers (reference §3 line)', () => {
    const e = parseMountInfoLine(
      '612 29 0:91 / /m rw,relatime shared:301 - overlay overlay rw,lowerdir=/x/a\\134:b:/x/c\\134\\054d:/x/e\\040f:/x/g\\134\\134h::/x/d1',
    );
    expect(parseOverlayOptions(e.superOptions)).toEqual({
      lower: ['/x/a:b', '/x/c,d', '/x/e f', '/x/g\\h'],
      data: ['/x/d1'],
      form: 'legacy',
      options: [['rw', true]],
    });
  });

  it('lowerdir+ and datadir+ entries (reference §3 line)', () => {
    const e = parseMountInfoLine(
      '613 29 0:92 / /m rw,relatime - overlay none rw,lowerdir+=/x/a:b,lowerdir+=/x/c\\054d,lowerdir+=/x/e\\040f,lowerdir+=/x/g\\134h,datadir+=/x/d1',
    );
    expect(parseOverlayOptions(e.superOptions)).toMatchObject({
      lower: ['/x/a:b', '/x/c,d', '/x/e f', '/x/g\\h'],
      data: ['/x/d1'],
      form: 'lowerdir+',
    });
  });

  it('repeated lowerdir+ and datadir+ keep their order; the rest are options', () => {
    const seen = parseOverlayOptions([
      'rw', 'lowerdir+=/l/3', 'lowerdir+=/l/1', 'lowerdir+=/l/2', 'datadir+=/d/2', 'datadir+=/d/1',
      'upperdir=/u', 'workdir=/w', 'redirect_dir=on', 'uuid=on', 'userxattr', 'fsync=volatile',
    ]);
    expect(seen).toEqual({
      lower: ['/l/3', '/l/1', '/l/2'],
      data: ['/d/2', '/d/1'],
      upper: '/u',
      work: '/w',
      form: 'lowerdir+',
      options: [['rw', true], ['redirect_dir', 'on'], ['uuid', 'on'], ['userxattr', true], ['fsync', 'volatile']],
    });
  });

  it('upperdir=/workdir= drop the backslash escapes the kernel dropped before its lookup', () => {
    expect(parseOverlayOptions(['upperdir=/u\\\\x\\:y', 'workdir=/w\\,z'])).toMatchObject({ upper: '/u\\x:y', work: '/w,z' });
  });

  it('a final lone backslash is dropped, as ovl_unescape drops it', () => {
    // mount -o lowerdir=/a\ makes the kernel open /a (and show lowerdir=/a\134).
    expect(kernelLegacyMount('/m', 'lowerdir=/l1:/a\\').opened.lower).toEqual(['/l1', '/a']);
    expect(parseOverlayOptions(['lowerdir=/l1:/a\\']).lower).toEqual(['/l1', '/a']);
    expect(parseOverlayOptions(['upperdir=/u\\', 'workdir=/w\\']).upper).toBe('/u');
  });

  it('values may contain "=": only the first one separates the key', () => {
    expect(parseOverlayOptions(['lowerdir+=/x/a=b', 'upperdir=/u=1', 'workdir=/w']).lower).toEqual(['/x/a=b']);
  });
});

// ---- properties ------------------------------------------------------------------------------

describe('round trips (fast-check)', () => {
  it('(a) legacy: plan() data → kernel split and unescape opens exactly the spec\'s layers → kernel show → our parser gives them back', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const p = plan({ ...spec, strategy: 'legacy' }, caps618);
        const data = (p.steps[0]?.step as { data: string }).data;
        const k = kernelLegacyMount(spec.target, data);
        expect(k.opened).toEqual(layersOf(spec));
        expect(readBack(k.line)).toEqual({ ...layersOf(spec), form: 'legacy' });
      }),
      { numRuns: 500 },
    );
  });

  it('(a) the same for any strings escaped with escapeLegacyPath, relative ones included', () => {
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), fc.array(name, { maxLength: 2 }), name, name, (lower, dataLayers, upper, work) => {
        const data =
          `lowerdir=${lower.map(escapeLegacyPath).join(':')}${dataLayers.map((d) => `::${escapeLegacyPath(d)}`).join('')}` +
          `,upperdir=${escapeLegacyPath(upper)},workdir=${escapeLegacyPath(work)}`;
        const k = kernelLegacyMount('/m', data);
        const want = { lower, data: dataLayers, upper, work };
        expect(k.opened).toEqual(want);
        expect(readBack(k.line)).toEqual({ ...want, form: 'legacy' });
      }),
      { numRuns: 500 },
    );
  });

  it('(b) lowerdir+: plan()\'s fsconfig strings → the kernel opens the spec\'s layers → shown → parsed back', () => {
    fc.assert(
      fc.property(specArb, (spec) => {
        const p = plan({ ...spec, strategy: 'lowerdir+' }, caps618);
        expect(p.byFd).toEqual([]);
        const strings = p.steps.flatMap(({ step }): Array<[string, string]> =>
          step.op === 'fsconfigSetString' ? [[String(step.key), String(step.value)]] : [],
        );
        const k = kernelFsconfigMount(spec.target, strings);
        expect(k.opened).toEqual(layersOf(spec));
        expect(readBack(k.line)).toEqual({ ...layersOf(spec), form: 'lowerdir+' });
      }),
      { numRuns: 500 },
    );
  });

  it('our lowerdir= split agrees with the kernel\'s on every value the kernel accepts', () => {
    const value = fc.string({ unit: fc.constantFrom(':', '\\', 'a', '/', ','), minLength: 1, maxLength: 16 });
    fc.assert(
      fc.property(value, (v) => {
        let kernel: { lower: string[]; data: string[] };
        try {
          kernel = kernelLowerdir(v);
        } catch {
          return; // the kernel refuses it: nothing mounted, nothing to read back
        }
        expect(splitLegacyLowerdir(v)).toEqual(kernel);
      }),
      { numRuns: 2000 },
    );
  });

  it('(c) escapeBackslashes / unescapeBackslashes round trip, and the kernel\'s ovl_unescape agrees', () => {
    fc.assert(
      fc.property(fc.string({ unit: pathChar, maxLength: 20 }), (s) => {
        expect(unescapeBackslashes(escapeBackslashes(s))).toBe(s);
        expect(ovlUnescape(escapeBackslashes(s))).toBe(s);
        expect(unescapeBackslashes(s)).toBe(ovlUnescape(s));
      }),
      { numRuns: 1000 },
    );
  });

  it('(d) commonParent is a strict ancestor, by path components, of every path, and the deepest one', () => {
    const component = fc.constantFrom('a', 'ab', 'b', 'a b', 'x:y');
    const path = fc
      .tuple(fc.array(component, { minLength: 1, maxLength: 5 }), fc.constantFrom('/', '//'), fc.boolean())
      .map(([parts, sep, trailing]) => ({ parts, text: sep + parts.join(sep) + (trailing ? '/' : '') }));
    fc.assert(
      fc.property(fc.array(path, { minLength: 1, maxLength: 5 }), (paths) => {
        const cp = commonParent(paths.map((p) => p.text));
        expect(cp.startsWith('/')).toBe(true);
        const cpParts = cp.split('/').filter(Boolean);
        for (const { parts } of paths) {
          expect(parts.length).toBeGreaterThan(cpParts.length);
          expect(parts.slice(0, cpParts.length)).toEqual(cpParts);
        }
        // Deepest: one more component is either some path itself or not shared by all.
        const k = cpParts.length;
        const deeper = paths.every(({ parts }) => parts.length > k + 1 && parts[k] === paths[0]!.parts[k]);
        expect(deeper).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });
});

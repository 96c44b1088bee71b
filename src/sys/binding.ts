/**
 * Loads the addon in exactly one place, on first use, and wires it to the TypeScript error
 * factory. Nothing loads it at import time: plan(), the spec checks and the dry run's
 * formatting work where the addon is not built.
 */
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createSystemError, useCLibraryErrnoNames } from './errors.js';
import type { FdHandle, NativeBinding } from './native-types.js';

/**
 * The package's root: the nearest directory above this file with a package.json. This file is
 * src/sys/binding.ts, dist/sys/binding.js, or part of a bundle (dist/index.js, dist/chunks/...),
 * so its depth below the root varies; asked only when the addon loads.
 */
function findPackageRoot(): string {
  const start = import.meta.dirname;
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(start, '..', '..');
  }
}

let packageRootCache: string | undefined;
const packageRoot = (): string => (packageRootCache ??= findPackageRoot());

let loaded: NativeBinding | undefined;

/** node-gyp-build's guess of the C library, which picks the prebuild. */
const libc = (): string => process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');

/**
 * The file node-gyp-build would pick for this package in the usual cases, found directly: a
 * build of our own in build/Release or build/Debug, else this platform's prebuild as
 * scripts/prebuild.mjs names it. Requiring node-gyp-build and its directory scans cost ~2.5 ms
 * of every `ovl mount`; it still decides every case this does not know (PREBUILDS_ONLY, a
 * prebuild next to node itself, and the error when there is none).
 */
function knownAddonFile(dir: string): string | undefined {
  if (process.env.PREBUILDS_ONLY) return undefined;
  const candidates = [join(dir, 'build', 'Release', 'overlayfs.node'), join(dir, 'build', 'Debug', 'overlayfs.node')];
  candidates.push(join(dir, 'prebuilds', `${process.platform}-${process.arch}`, `overlayfs.napi.${libc()}.node`));
  return candidates.find((file) => existsSync(file));
}

function load(): NativeBinding {
  let addon: NativeBinding;
  try {
    // build/Release, build/Debug, then prebuilds/linux-<arch>/; OVERLAYFS_PREBUILD=<dir> overrides.
    const dir = process.env.OVERLAYFS_PREBUILD || packageRoot();
    const file = knownAddonFile(dir);
    // require(), not process.dlopen(): Node's module cache keeps one instance of the addon per
    // path and thread, whichever copy of this file loads it (the bundles and tsc's per-module
    // files in one process; node-gyp-build requires the same path). A second init in one thread
    // would replace the first's instance data (its handle class, fd counts, kernel-log journal).
    const require = createRequire(import.meta.url);
    addon = (file ? require(file) : (require('node-gyp-build') as (dir: string) => unknown)(packageRoot())) as NativeBinding;
  } catch (cause) {
    throw new Error(loadFailure(cause), { cause });
  }
  addon.setErrorFactory(createSystemError);
  useCLibraryErrnoNames((errno) => addon.errnoName(errno));
  // Disposable like Node's own handles: `using fs = fsopenSync('overlay')` closes it.
  const handleProto = addon.FdHandle.prototype as FdHandle;
  Object.defineProperty(handleProto, Symbol.dispose, {
    value: function dispose(this: FdHandle) {
      this.close();
    },
    configurable: true,
    writable: true,
  });
  return addon;
}

/** Whether an executable `name` is in a directory on PATH (no child process). */
function onPath(name: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** "linux-x64 glibc, linux-x64 musl, ..." from prebuilds/<platform>-<arch>/*.<libc>.node. */
function shippedPrebuilds(from: string): string {
  const dir = join(from, 'prebuilds');
  try {
    const found = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        readdirSync(join(dir, d.name))
          .filter((f) => f.endsWith('.node'))
          .map((f) => `${d.name} ${/\.(glibc|musl)\.node$/.exec(f)?.[1] ?? f}`),
      );
    return found.length > 0 ? found.sort().join(', ') : 'none';
  } catch {
    return 'none';
  }
}

/** What happened, what this package has, and what building from source would need. */
function loadFailure(cause: unknown): string {
  const searched = resolve(process.env.OVERLAYFS_PREBUILD || packageRoot());
  const what = String((cause as Error | undefined)?.message ?? cause).split('\n')[0];
  const missing = [
    onPath('python3') || onPath('python') ? null : 'python3',
    onPath('make') ? null : 'make',
    ['c++', 'g++', 'clang++'].some(onPath) ? null : 'g++ or clang++',
  ].filter((m) => m !== null);
  return (
    `overlayfs: the native addon could not be loaded from ${searched}: ${what}\n` +
    `  Searched build/Release, build/Debug, then the prebuilt binaries for this machine, ` +
    `${process.platform}-${process.arch} ${libc()}; prebuilds there: ${shippedPrebuilds(searched)}.\n` +
    `  Building it from source needs python3, make and a C++ compiler` +
    (missing.length > 0 ? ` (not found on PATH: ${missing.join(', ')})` : ' (all found on PATH)') +
    `; then run \`npm rebuild overlayfs\` in the project that depends on it (it builds from source when ` +
    `no prebuilt binary loads), ` +
    `or \`npm run build:native\` in a clone of overlayfs.`
  );
}

/** The addon, loaded on the first call. */
export function native(): NativeBinding {
  return (loaded ??= load());
}

/** Whether the addon has been loaded (for tests of the import boundaries). */
export function nativeLoaded(): boolean {
  return loaded !== undefined;
}

export type { FdHandle };

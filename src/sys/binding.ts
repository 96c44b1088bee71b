/**
 * Loads the addon in exactly one place, on first use, and wires it to the TypeScript error
 * factory. Nothing loads it at import time: plan(), the spec checks and the dry run's
 * formatting work where the addon is not built.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createSystemError, useCLibraryErrnoNames } from './errors.js';
import type { FdHandle, NativeBinding } from './native-types.js';

// src/sys/ and dist/sys/ are both two levels below the package root.
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

let loaded: NativeBinding | undefined;

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  let addon: NativeBinding;
  try {
    // build/Release, build/Debug, then prebuilds/linux-<arch>/; OVERLAYFS_PREBUILD=<dir> overrides.
    addon = nodeGypBuild(packageRoot) as NativeBinding;
  } catch (cause) {
    throw new Error(
      `overlayfs: the native addon could not be loaded from ${packageRoot} ` +
        `(searched build/Release, build/Debug and prebuilds/${process.platform}-${process.arch}). ` +
        `Reinstall the package, or run 'npm run build:native' there (needs python3, make and a C++ compiler).`,
      { cause },
    );
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

/** The addon, loaded on the first call. */
export function native(): NativeBinding {
  return (loaded ??= load());
}

/** Whether the addon has been loaded (for tests of the import boundaries). */
export function nativeLoaded(): boolean {
  return loaded !== undefined;
}

export type { FdHandle };

/** Loads the addon in exactly one place and wires it to the TypeScript error factory. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { createSystemError, useCLibraryErrnoNames } from './errors.js';
import type { FdHandle, NativeBinding } from './native-types.js';

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

function load(): NativeBinding {
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
  try {
    // build/Release, build/Debug, then prebuilds/linux-<arch>/; OVERLAYFS_PREBUILD=<dir> overrides.
    return nodeGypBuild(packageRoot) as NativeBinding;
  } catch (cause) {
    throw new Error(
      `overlayfs: the native addon could not be loaded from ${packageRoot} ` +
        `(searched build/Release, build/Debug and prebuilds/${process.platform}-${process.arch}). ` +
        `Run 'npm run build:native' there.`,
      { cause },
    );
  }
}

export const native: NativeBinding = load();

native.setErrorFactory(createSystemError);
useCLibraryErrnoNames((errno) => native.errnoName(errno));

// Disposable like Node's own handles: `using fs = fsopenSync('overlay')` closes it.
const handleProto = native.FdHandle.prototype as FdHandle;
Object.defineProperty(handleProto, Symbol.dispose, {
  value: function dispose(this: FdHandle) {
    this.close();
  },
  configurable: true,
  writable: true,
});

export type { FdHandle };

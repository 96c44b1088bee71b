/**
 * ovl: the command line over the overlayfs library. It runs the command line (dispatch.ts parses
 * it and loads only the code of the command it names). Nothing here decides how to mount. The
 * installed `ovl` is src/boot/ovl.ts, which loads this file's bundle from a code cache.
 */
import { readFileSync } from 'node:fs';
import { run } from './dispatch.js';
import { err } from './output.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

run(process.argv.slice(2), { version }).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`ovl: internal error: ${(e as Error)?.stack ?? String(e)}`);
    process.exitCode = 4;
  },
);

#!/usr/bin/env node
/**
 * ovl: the command line over the overlayfs library. The process's entry: it turns on Node's
 * compile cache where Node has one, then runs the command line (dispatch.ts parses it and loads
 * only the code of the command it names). Nothing here decides how to mount.
 */
import module from 'node:module';
import { readFileSync } from 'node:fs';
import { run } from './dispatch.js';
import { err } from './output.js';

// Node >= 22.1 keeps the compiled code of the modules it loads on disk (in os.tmpdir() unless
// NODE_COMPILE_CACHE says where) and reuses it on the next start; older Nodes lack it.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

// A reader that went away (`ovl probe | head -1`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
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

/**
 * The `ovl` executable (dist/cli/ovl.cjs, package.json "bin"): CommonJS, so Node starts it without
 * its ES module loader (~5 ms), and it only hands over to the command line's bundle
 * (dist/cli/main.cjs, src/cli/main.ts) through the code-cache loader, under a cache profile named
 * after the command, so `ovl mount` keeps the compiled code a mount needs.
 */
import { join } from 'node:path';
import { load, setProfile } from './load.js';

// This file runs only as CommonJS (dist/cli/ovl.cjs): its directory is dist/cli.
declare const __dirname: string;

// A command's name (`mount`, `image`, ...): not a path or an option, each of which would leave
// caches of their own.
const command = process.argv[2] ?? '';
setProfile(/^[a-z][a-z0-9-]{0,23}$/.test(command) ? `ovl-${command}` : 'ovl');
load(join(__dirname, 'main.cjs'));

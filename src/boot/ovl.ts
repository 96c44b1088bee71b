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

setProfile(`ovl-${process.argv[2] ?? ''}`);
load(join(__dirname, 'main.cjs'));

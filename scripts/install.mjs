#!/usr/bin/env node
// npm's install hook (package.json "install"), run in the installed package: a clone or
// node_modules/overlayfs. When an addon that node-gyp-build resolves loads here (a build in
// build/, or the prebuild for this platform, arch and libc), there is nothing to do. Otherwise
// it says why and builds from source with node-gyp, or fails naming the tools that are missing.
// npm_config_build_from_source=true (`npm rebuild overlayfs --build-from-source`) skips the prebuilds.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (line) => console.error(`overlayfs: ${line}`);

// node-gyp-build's own guess, so the message names the prebuild it looked for.
const libc = process.env.LIBC || (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
const platform = `${process.platform}-${process.arch} ${libc}`;

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      /* not here */
    }
  }
  return false;
}

/** What node-gyp needs that is not on PATH. */
function missingTools() {
  const missing = [];
  const python = process.env.npm_config_python || process.env.PYTHON;
  if (!(python ? existsSync(python) || onPath(python) : onPath('python3') || onPath('python'))) missing.push('python3');
  if (!onPath('make')) missing.push('make');
  const cxx = process.env.CXX?.split(/\s+/)[0];
  if (!(cxx ? existsSync(cxx) || onPath(cxx) : ['c++', 'g++', 'clang++'].some(onPath))) missing.push('g++ or clang++');
  return missing;
}

function prebuildsShipped() {
  const dir = join(root, 'prebuilds');
  let tuples = [];
  try {
    tuples = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory());
  } catch {
    return 'none';
  }
  const names = tuples.flatMap((d) =>
    readdirSync(join(dir, d.name))
      .filter((f) => f.endsWith('.node'))
      .map((f) => `${d.name} ${/\.(glibc|musl)\.node$/.exec(f)?.[1] ?? f}`),
  );
  return names.length ? names.sort().join(', ') : 'none';
}

/** Why no addon loads here, or null when one does. */
function whyNoAddon() {
  let file;
  try {
    file = require('node-gyp-build').resolve(root);
  } catch {
    return `no prebuilt binary for ${platform} (this package has: ${prebuildsShipped()})`;
  }
  try {
    require(file);
    return null;
  } catch (e) {
    const first = String(e?.message ?? e).split('\n')[0];
    return `${file.slice(root.length + 1)} does not load here (${first})`;
  }
}

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) {
    return [process.execPath, process.env.npm_config_node_gyp];
  }
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    return ['node-gyp'];
  }
}

const forced = process.env.npm_config_build_from_source === 'true';
const reason = forced ? 'asked to build from source (npm_config_build_from_source)' : whyNoAddon();
if (reason === null) process.exit(0);

const missing = missingTools();
if (missing.length) {
  say(`${reason}.`);
  say(`Building it from source needs python3, make and a C++ compiler; not found on PATH: ${missing.join(', ')}.`);
  say('Install them (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++), then run `npm rebuild overlayfs`.');
  process.exit(1);
}

say(`${reason}; building from source (needs python3, make, g++) ...`);
const args = ['rebuild'];
// Node's own headers when they came with it (official tarballs, distro packages): no download.
const prefix = resolve(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) {
  args.push(`--nodedir=${prefix}`);
} else if (!process.env.npm_config_nodedir) {
  say(`Node's headers are not in ${join(prefix, 'include', 'node')}: node-gyp downloads them (set npm_config_nodedir to use a local copy).`);
}
const [cmd, ...pre] = nodeGyp();
const r = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  say(`the build from source failed (${r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`}); see its output above.`);
  process.exit(1);
}
say('built build/Release/overlayfs.node from source.');

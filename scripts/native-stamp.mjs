// The stamp of the committed prebuilds: sha256 of every input of the native build (native/*.cc,
// native/*.h, binding.gyp) and the node-addon-api version they were compiled against, in
// `sha256sum` format. scripts/prebuild.mjs writes it to prebuilds/SOURCES.sha256 after building
// every target; test/unit/prebuilds.test.ts recomputes it and fails when the sources moved on
// without the binaries.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const STAMP_FILE = 'prebuilds/SOURCES.sha256';

/** The files the addon is compiled from, relative to `root`, sorted. */
export function nativeSources(root) {
  const native = readdirSync(join(root, 'native'))
    .filter((f) => f.endsWith('.cc') || f.endsWith('.h'))
    .map((f) => `native/${f}`);
  return ['binding.gyp', ...native].sort();
}

/** The node-addon-api version that `root`'s build resolves. */
export function nodeAddonApiVersion(root) {
  const require = createRequire(join(root, 'package.json'));
  return require('node-addon-api/package.json').version;
}

/** The stamp text for the sources as they are now. */
export function computeStamp(root) {
  const lines = [`# node-addon-api ${nodeAddonApiVersion(root)}`];
  for (const file of nativeSources(root)) {
    lines.push(`${createHash('sha256').update(readFileSync(join(root, file))).digest('hex')}  ${file}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * What differs between the recorded stamp and the sources now: each entry names a file (or the
 * node-addon-api version) that was added, removed or changed. Empty when they agree.
 */
export function stampDifferences(recorded, current) {
  const parse = (text) => {
    const entries = new Map();
    for (const line of text.split('\n')) {
      const api = /^# node-addon-api (\S+)$/.exec(line);
      if (api) entries.set('node-addon-api', api[1]);
      const file = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (file) entries.set(file[2], file[1]);
    }
    return entries;
  };
  const was = parse(recorded);
  const now = parse(current);
  const differences = [];
  for (const [name, value] of now) {
    if (!was.has(name)) differences.push(`${name} (new)`);
    else if (was.get(name) !== value) differences.push(name === 'node-addon-api' ? `node-addon-api ${was.get(name)} -> ${value}` : `${name} (changed)`);
  }
  for (const name of was.keys()) if (!now.has(name)) differences.push(`${name} (removed)`);
  return differences;
}

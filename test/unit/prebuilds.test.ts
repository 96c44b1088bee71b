import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeStamp, STAMP_FILE, stampDifferences } from '../../scripts/native-stamp.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));

// The binaries npm install uses instead of compiling (scripts/prebuild.mjs makes them).
const SHIPPED = [
  'linux-arm64/overlayfs.napi.glibc.node',
  'linux-arm64/overlayfs.napi.musl.node',
  'linux-x64/overlayfs.napi.glibc.node',
  'linux-x64/overlayfs.napi.musl.node',
];
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };

describe('the committed prebuilds', () => {
  it('were made from the native sources as they are now', () => {
    const recorded = readFileSync(join(root, STAMP_FILE), 'utf8');
    const differences = stampDifferences(recorded, computeStamp(root));
    if (differences.length > 0) {
      throw new Error(
        `native sources changed since the prebuilds were made: run \`npm run prebuild\` (${differences.join(', ')})`,
      );
    }
  });

  it('are one binary per platform, arch and libc, each an ELF for its arch', () => {
    const found = readdirSync(join(root, 'prebuilds'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(root, 'prebuilds', d.name)).map((f) => `${d.name}/${f}`))
      .sort();
    expect(found).toEqual(SHIPPED);
    for (const file of SHIPPED) {
      const bytes = readFileSync(join(root, 'prebuilds', file));
      expect(bytes.readUInt32BE(0), file).toBe(0x7f454c46);
      const arch = file.split('/')[0]!.replace('linux-', '');
      expect(bytes.readUInt16LE(18), file).toBe(ELF_MACHINE[arch]);
    }
  });

  it('the stamp check names what changed', () => {
    const now = computeStamp(root);
    const edited = now.replace(/^[0-9a-f]{64}(?= {2}native\/sys\.h$)/m, '0'.repeat(64)).replace(/^# node-addon-api .*$/m, '# node-addon-api 1.0.0');
    expect(stampDifferences(edited, now)).toEqual(expect.arrayContaining(['native/sys.h (changed)', expect.stringMatching(/^node-addon-api 1\.0\.0 -> /)]));
    expect(stampDifferences(now + '0'.repeat(64) + '  native/gone.cc\n', now)).toEqual(['native/gone.cc (removed)']);
  });
});

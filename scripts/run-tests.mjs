#!/usr/bin/env node
// `npm test`: runs every vitest project. As root it first re-runs itself inside a private mount
// namespace (`unshare --mount --propagation private`), so no mount made by a test, even one
// that crashed, can reach the host. With CI=true a skipped privileged test fails the run. The
// results go to test-results.json, or to the file OVERLAYFS_TEST_RESULTS names.
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative, resolve } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const isRoot = process.getuid() === 0;

if (isRoot && !process.env.OVERLAYFS_HOST_MNT_NS) {
  const env = { ...process.env, OVERLAYFS_HOST_MNT_NS: readlinkSync('/proc/self/ns/mnt') };
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, fileURLToPath(import.meta.url), ...args], {
    stdio: 'inherit',
    env,
  });
  if (r.error) {
    console.error(`npm test: cannot create a private mount namespace: ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}

// Child-process fixtures (rootless tests under `unshare -Urm`, the ovl CLI) run the compiled
// library, so build it from the sources under test first (scripts/build.mjs: tsc, then the
// bundles the package ships, into an empty dist/).
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: root });
if (build.status !== 0) {
  console.error('npm test: the build failed');
  process.exit(1);
}

const results = process.env.OVERLAYFS_TEST_RESULTS ? resolve(process.env.OVERLAYFS_TEST_RESULTS) : join(root, 'test-results.json');
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
// A results file left by an earlier run must not stand in for this one if vitest writes none.
rmSync(results, { force: true });
const run = spawnSync(
  process.execPath,
  [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...args],
  { stdio: 'inherit', cwd: root },
);
let status = run.status ?? 1;

let report;
try {
  report = JSON.parse(readFileSync(results, 'utf8'));
} catch {
  console.error('npm test: vitest wrote no results');
  process.exit(status || 1);
}

const privilegedDirs = ['test/privileged/', 'test/rootless/'];
const skippedPrivileged = [];
for (const file of report.testResults ?? []) {
  const rel = relative(root, file.name);
  if (!privilegedDirs.some((d) => rel.startsWith(d))) continue;
  for (const t of file.assertionResults ?? []) {
    if (t.status === 'skipped' || t.status === 'pending' || t.status === 'todo') skippedPrivileged.push(`${rel}: ${t.fullName}`);
  }
}
if (skippedPrivileged.length > 0) {
  const head = `${skippedPrivileged.length} privileged test(s) skipped`;
  if (process.env.CI === 'true') {
    console.error(`\n${head}; CI=true requires every privileged test to run:`);
    for (const t of skippedPrivileged.slice(0, 20)) console.error(`  ${t}`);
    status = status || 1;
  } else {
    console.error(`\n${head} (their names say why).`);
  }
}
process.exit(status);

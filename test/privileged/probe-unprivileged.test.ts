/**
 * The probe without CAP_SYS_ADMIN, for real: fsopen(2) fails EPERM before any question reaches
 * overlay, so what depends on it is unknown (with the reason), not absent, and a dry run plans
 * what root would get. Run as nobody on the compiled library (dist/), or, where nobody cannot
 * read the checkout, as root without CAP_SYS_ADMIN.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { probeSync } from '../../src/index.js';
import { ovl, ovlOk, REPO, withoutSysAdmin } from '../helpers/cli.js';
import { describePrivileged } from '../helpers/privileged.js';
import { tempDir, writeTree } from '../helpers/tmp.js';

const REASON = 'fsopen(overlay) needs CAP_SYS_ADMIN: EPERM';
/** What the probe asks of an overlay fs context, which it cannot open without CAP_SYS_ADMIN. */
const FS_CONTEXT = ['fsContextParser', 'lowerdirPlus', 'datadirPlus', 'layersByFd', 'createExcl', 'userxattr', 'volatile', 'fsync', 'uuidModes', 'verity', 'overrideCreds'];

describePrivileged('probe without CAP_SYS_ADMIN: unknown, not absent', () => {
  const prefix = withoutSysAdmin();

  it('probeSync() (dist/): the fs-context features are unknown with the reason; their booleans false as unseen', (ctx) => {
    const asRoot = probeSync();
    if (!asRoot.lowerdirPlus || !asRoot.layersByFd || !asRoot.createExcl) ctx.skip(`this kernel (${asRoot.kernel}) lacks lowerdir+, layers by fd or CMD_CREATE_EXCL`);
    const script = `import(${JSON.stringify(join(REPO, 'dist', 'index.js'))}).then((m) => process.stdout.write(JSON.stringify(m.probeSync())))`;
    const r = spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const caps = JSON.parse(r.stdout) as Record<string, unknown> & { unknown: Record<string, string> };
    expect(caps).toMatchObject({ canMount: false, newMountApi: true, lowerdirPlus: false, layersByFd: false, createExcl: false });
    expect(Object.keys(caps.unknown).sort()).toEqual([...FS_CONTEXT].sort());
    for (const f of FS_CONTEXT) expect(caps.unknown[f]).toBe(REASON);
    // What it could see is the same as root's.
    for (const k of ['kernel', 'statmount', 'statmountOptionArray', 'mountIdUnique', 'pageSize', 'moduleDefaults'] as const) expect(caps[k]).toEqual(asRoot[k]);
  });

  it('ovl probe and --json show them as unknown with the reason', () => {
    const json = JSON.parse(ovlOk(['probe', '--json'], { prefix })) as { unknown: Record<string, string>; lowerdirPlus: boolean };
    expect(json.unknown.lowerdirPlus).toBe(REASON);
    expect(json.lowerdirPlus).toBe(false);
    const lines = ovlOk(['probe'], { prefix }).trimEnd().split('\n');
    for (const f of [...FS_CONTEXT, 'fsyncModes']) expect(lines).toContain(`${f.padEnd(22)} unknown (${REASON})`);
    expect(lines).toContain(`${'canMount'.padEnd(22)} false`);
    expect(lines.some((l) => l.startsWith('unknown '))).toBe(false);
  });

  it('ovl mount --dry-run plans what root gets, with a warning that names what was assumed and why', () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    writeTree(root, { 'a/x': 'a', 'b/y': 'b', 'm/': null });
    const args = ['mount', '--dry-run', '--lower', join(root, 'a'), '--lower', join(root, 'b'), join(root, 'm')];
    const asRoot = ovlOk(args);
    const r = ovl(args, { prefix });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/no lowerdir\+|before 6\.7/);
    const warning = /^warning: assumed this kernel has .*lowerdir\+.*: the probe could not test them \((.*)\)$/m.exec(r.stdout);
    expect(warning?.[1]).toBe(REASON);
    expect(r.stdout.replace(`${warning![0]}\n`, '')).toBe(asRoot);
  });
});

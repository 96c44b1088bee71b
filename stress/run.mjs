#!/usr/bin/env node
/**
 * `npm run stress`: the checks that found the library's reliability bugs, kept as a bounded run
 * (issue 13). Each scenario runs for --seconds (default 20; layer-swap splits it between the
 * strategies) against the compiled library (dist/), in child processes:
 *
 *   shared-upper  4 processes mount the same upper and work at their own targets, in a loop
 *                 (mount, check, hold 2 ms, unmount), half the time with index=off, half with
 *                 index=on. Never two of these overlays at once: each winner counts the overlays
 *                 on that upper in mountinfo, and the kernel must not see the upper in use by
 *                 another overlay (index=off: no "in-use as upperdir/workdir" pair in the kernel
 *                 log; index=on: no EBUSY). Every loser is refused naming another's mount
 *                 (OverlaySpecError); any other error breaks the invariant.
 *   layer-swap    a racer swaps lower[0] with a decoy (renameat2 RENAME_EXCHANGE) while a child
 *                 mounts, per strategy. The default strategy mounts the decoy 0 times; lowerdir+
 *                 and legacy counts are reported, not asserted (children/layer-swap.mjs says how
 *                 "wrong" is measured).
 *   kill-9        a child loops mount/unmount on one upper and is SIGKILLed 0-50 ms into the
 *                 loop; a fresh process then recovers as the README allows (children/kill-victim.mjs)
 *                 and must succeed, and no lock, shared upper or odd work dir is left.
 *   concurrent    one process: Promise.all of 64 mountOverlay() on distinct dirs, then of their
 *                 unmounts, for rounds: 0 errors, 0 fds, handles and mounts left over.
 *
 *   node stress/run.mjs [--seconds=N] [--json] [--only=shared-upper,layer-swap,kill-9,concurrent]
 *
 * Prints one line per scenario (ok or FAIL, and its numbers), or with --json one JSON object.
 * Exit code: 0 when every invariant held, 1 when one did not or a scenario could not run, 2 on
 * bad usage.
 *
 * Needs root and python3 (the racer). Re-runs itself inside `unshare --mount --propagation
 * private` (as `npm test` and `npm run bench` do), mounts a tmpfs over one temp dir and makes
 * everything in it. On the way out, also after a failure or a signal, it kills the children it
 * started, detaches every mount under that dir and removes it; the outer process removes the dir
 * again once the namespace is gone, so even a SIGKILL of the inner run leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const repo = join(dirname(self), '..');
const children = join(dirname(self), 'children');
const argv = process.argv.slice(2);
const SCENARIOS = ['shared-upper', 'layer-swap', 'kill-9', 'concurrent'];

function usage(msg) {
  console.error(`stress: ${msg}\nusage: node stress/run.mjs [--seconds=N] [--json] [--only=${SCENARIOS.join(',')}]`);
  process.exit(2);
}
const opt = { seconds: 20, json: false, only: SCENARIOS };
for (const a of argv) {
  if (a === '--json') opt.json = true;
  else if (a.startsWith('--seconds=')) {
    opt.seconds = Number(a.slice('--seconds='.length));
    if (!(opt.seconds > 0 && opt.seconds <= 3600)) usage(`--seconds wants a number of seconds (0 < N <= 3600), not '${a.slice(10)}'`);
  } else if (a.startsWith('--only=')) {
    opt.only = a.slice('--only='.length).split(',');
    for (const s of opt.only) if (!SCENARIOS.includes(s)) usage(`unknown scenario '${s}'`);
  } else usage(`unknown argument '${a}'`);
}

if (process.getuid?.() !== 0) {
  console.error('stress: needs root (it makes real mounts, inside a private mount namespace): sudo npm run stress');
  process.exit(1);
}

// ---- outside: a private mount namespace for the run, and the last word on its temp dir ----

if (!process.env.OVERLAYFS_STRESS_BASE) {
  const hostNs = readlinkSync('/proc/self/ns/mnt');
  const base = mkdtempSync(join(realpathSync(os.tmpdir()), 'ovl-stress-'));
  const env = { ...process.env, OVERLAYFS_STRESS_BASE: base, OVERLAYFS_STRESS_HOST_MNT_NS: hostNs };
  const inner = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, self, ...argv], { stdio: 'inherit', env });
  // Ctrl-C reaches the whole process group; other signals are passed on. Either way this
  // process stays to remove the temp dir after the inner run (and its namespace) has ended.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => inner.exitCode === null && inner.kill(sig));
  const [code, signal] = await Promise.race([
    once(inner, 'exit'),
    once(inner, 'error').then(([e]) => {
      console.error(`stress: cannot create a private mount namespace: ${e.message}`);
      return [1, null];
    }),
  ]);
  // In this namespace the dir never had a mount on it; refuse to recurse into one regardless.
  const mountedHere = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => (l.split(' ')[4] ?? '').startsWith(base));
  if (mountedHere) console.error(`stress: something is mounted under ${base} in the host namespace; not removing it`);
  else rmSync(base, { recursive: true, force: true });
  process.exit(code ?? (signal === 'SIGINT' ? 130 : 1));
}

// ---- inside ----

if (readlinkSync('/proc/self/ns/mnt') === process.env.OVERLAYFS_STRESS_HOST_MNT_NS) {
  console.error('stress: still in the host mount namespace; refusing to mount');
  process.exit(1);
}
if (!existsSync(join(repo, 'dist', 'index.js'))) {
  console.error('stress: dist/ is missing: run `npm run build:ts` (npm run stress does)');
  process.exit(1);
}
const base = process.env.OVERLAYFS_STRESS_BASE;
const lib = await import('../dist/index.js');
const { LOCK, MNT, O, sys } = lib;
const { mountsUnder, overlaysWithUpper } = await import('./children/common.mjs');

const log = (msg) => {
  if (!opt.json || process.stderr.isTTY) process.stderr.write(`stress: ${msg}\n`);
};

// ---- child processes ----

/** Every child started and not yet reaped. */
const live = new Set();
/** The signal that interrupted the run, if one did: from then on no child is started. */
let interrupted = null;

function killChildren() {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Starts a child whose stdout is JSON lines; `child.lines` collects them (a line that is not
 * JSON becomes { type: 'text' }), `child.stderrTail` the end of its stderr, `child.ended` resolves
 * to { code, signal } once it has exited and its output is read.
 */
function start(cmd, args) {
  if (interrupted) throw new Error(`interrupted (${interrupted})`);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  child.lines = [];
  child.stderrTail = '';
  let buf = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; ) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        msg = { type: 'text', text: line };
      }
      child.lines.push(msg);
      child.emit('line', msg);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => (child.stderrTail = (child.stderrTail + d).slice(-2000)));
  child.stdin.on('error', () => {}); // a child that exited before reading its stdin
  child.ended = new Promise((resolve) => {
    child.once('error', (error) => {
      live.delete(child);
      resolve({ code: null, signal: null, error: error.message });
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return child;
}

const node = (script, cfg, flags = []) => start(process.execPath, [...flags, join(children, script), JSON.stringify(cfg)]);

/** The child's first line of `type`; rejects when it ends without one or after `ms`. */
function waitFor(child, type, ms) {
  const have = child.lines.find((l) => l.type === type);
  if (have) return Promise.resolve(have);
  return new Promise((resolve, reject) => {
    const done = (f, v) => {
      clearTimeout(timer);
      child.off('line', onLine);
      f(v);
    };
    const onLine = (l) => l.type === type && done(resolve, l);
    const timer = setTimeout(() => done(reject, new Error(`${describe(child)}: no '${type}' within ${ms} ms`)), ms);
    child.on('line', onLine);
    child.ended.then((e) => done(reject, new Error(`${describe(child)} ended (${e.error ?? (e.signal ?? `exit ${e.code}`)}) without '${type}'${tail(child)}`)));
  });
}

/** Waits for the child to end, killing it after `ms`. */
async function ended(child, ms) {
  const timer = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), ms);
  const e = await child.ended;
  clearTimeout(timer);
  return e;
}

const describe = (child) => `${child.spawnargs.slice(1, 3).map((a) => a.split('/').pop()).join(' ')} (pid ${child.pid})`;
const tail = (child) => (child.stderrTail.trim() ? `; stderr: ${child.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : '');

// ---- the machine's state, read here ----

/** A cursor at the end of the kernel log (an fd of /dev/kmsg), or null where it cannot be read. */
function kmsgCursor() {
  try {
    const h = sys.openSync('/dev/kmsg', O.RDONLY | O.NONBLOCK);
    sys.lseekSync(h, 0, 2);
    return h;
  } catch {
    return null;
  }
}

/** The text of every kernel log record since the cursor; closes it. */
function kmsgSince(h) {
  if (h === null) return null;
  const out = [];
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      let n;
      try {
        n = readSync(h.fd, buf, 0, buf.length, null);
      } catch (e) {
        if (e.code === 'EPIPE') continue; // records overwritten while reading: go on from the oldest left
        break; // EAGAIN: the end
      }
      if (n <= 0) break;
      const record = buf.toString('utf8', 0, n);
      out.push(record.slice(record.indexOf(';') + 1).split('\n')[0]);
    }
  } finally {
    h.close();
  }
  return out;
}

/** Whether another process holds the flock of dir (as the library takes it: LOCK_EX on an O_RDONLY fd). */
function lockHeld(dir) {
  if (!existsSync(dir)) return false;
  const h = sys.openSync(dir, O.RDONLY | O.DIRECTORY);
  try {
    sys.flockSync(h, LOCK.EX | LOCK.NB);
    return false;
  } catch (e) {
    if (e.code === 'EAGAIN') return true;
    throw e;
  } finally {
    h.close();
  }
}

function writeTree(root, tree) {
  for (const [rel, content] of Object.entries(tree)) {
    const p = join(root, rel);
    if (content === null) mkdirSync(p, { recursive: true });
    else {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
  }
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const n = (x) => x.toLocaleString('en-US');

// ---- scenarios: each returns { summary, problems: [strings], details } ----

/**
 * One phase of shared-upper: PROCESSES children on one upper and work (in dir), with the spec's
 * `options`, for `seconds`.
 */
async function sharedUpperPhase(dir, options, seconds) {
  writeTree(dir, { 'lower/file': 'lower\n', 'upper/': null });
  const d = { lower: join(dir, 'lower'), upper: join(dir, 'upper'), work: join(dir, 'work') };
  const targets = Array.from({ length: SHARED_PROCESSES }, (_, i) => join(dir, `m${i}`));
  for (const t of targets) mkdirSync(t);
  const problems = [];

  const cursor = kmsgCursor();
  // Half of them mount with mountOverlaySync, half with mountOverlay (the lock is the same).
  const kids = targets.map((target, i) =>
    node('shared-upper.mjs', { ...d, target, others: targets.filter((t) => t !== target), options, seconds, holdMs: SHARED_HOLD_MS, mode: i % 2 === 0 ? 'sync' : 'promise' }),
  );
  await Promise.all(kids.map((k) => waitFor(k, 'ready', 30_000)));
  for (const k of kids) k.stdin.write('go\n');
  await Promise.all(kids.map((k) => ended(k, (seconds + 60) * 1000)));
  const kmsg = kmsgSince(cursor);

  const results = [];
  for (const k of kids) {
    const r = k.lines.find((l) => l.type === 'result');
    if (r) results.push(r);
    else problems.push(`${describe(k)} gave no result${tail(k)}`);
  }
  const total = (key) => sum(results.map((r) => r[key]));
  const [wins, refusals, errors, overlaps, ownNotSeen] = ['wins', 'refusals', 'errors', 'overlaps', 'ownNotSeen'].map(total);
  const errorCodes = {};
  for (const r of results) for (const [code, k] of Object.entries(r.errorCodes)) errorCodes[code] = (errorCodes[code] ?? 0) + k;
  const codes = Object.entries(errorCodes).map(([code, k]) => `${k} ${code}`).join(', ');
  if (errors > 0) {
    const first = results.flatMap((r) => r.samples).find((x) => x.error)?.error;
    problems.push(`${errors} attempt(s) failed other than by a refusal naming another's mount (${codes}); first: ${first?.message}`);
  }
  if (overlaps > 0) problems.push(`${overlaps} time(s) a winner saw another overlay on the same upper in mountinfo`);
  if (ownNotSeen > 0) problems.push(`${ownNotSeen} time(s) a winner did not find its own overlay in mountinfo (the check is blind)`);
  if (wins === 0) problems.push('no process ever mounted');
  // With index=off the kernel warns when an overlay is created on an upper or work another live
  // overlay superblock holds: "overlayfs: upperdir is in-use as upperdir/workdir of another
  // mount, ..." and the same for workdir (with index=on it refuses with EBUSY instead, which
  // the children count as errors). The log is shared by every process on the machine and this
  // kernel may not say which process printed a line (CONFIG_PRINTK_CALLER), so lines are
  // attributed by shape: an overlap of ours prints one upperdir and one workdir line (both dirs
  // are shared here), while, e.g., another program's allowShared mount on a work dir of its own
  // prints only the first. min(upperdir lines, workdir lines) counts our overlaps.
  let inUse = null;
  if (kmsg !== null) {
    const count = (which) => kmsg.filter((l) => l.startsWith(`overlayfs: ${which} is in-use as upperdir/workdir`)).length;
    const [upper, work] = [count('upperdir'), count('workdir')];
    inUse = { upper, work, pairs: Math.min(upper, work) };
    if (inUse.pairs > 0) problems.push(`the kernel log has ${inUse.pairs} upperdir+workdir "in-use" pair(s): an overlay was created while another still held the upper`);
  }
  const left = mountsUnder(dir);
  if (left.length > 0) problems.push(`still mounted: ${left.join(', ')}`);
  for (const p of [d.upper, d.work]) if (lockHeld(p)) problems.push(`${p} is still locked`);

  const kmsgText = inUse === null ? 'kernel log not readable' : `${inUse.pairs} in-use pairs in the kernel log`;
  return {
    text: `${n(wins)} mounts (${results.map((r) => r.wins).join('/')}), ${n(refusals)} refused naming another's mount, ${errors} other errors${codes ? ` (${codes})` : ''}, ${overlaps} overlaps in mountinfo, ${kmsgText}`,
    problems,
    details: { options, wins, refusals, errors, errorCodes, overlaps, ownNotSeen, kernelLogInUse: inUse, children: results },
  };
}

const SHARED_PROCESSES = 4;
const SHARED_HOLD_MS = 2;

/**
 * shared-upper: half the time with index=off (the default here: an overlap is a kernel
 * warning, seen in the shared kernel log), half with index=on (an overlap is the kernel's EBUSY,
 * seen by the process that made it), where the upper's filesystem takes index=on.
 */
async function sharedUpper(seconds) {
  const dir = join(base, 'shared-upper');
  const phases = [['index=off', { index: 'off' }]];
  const skipped = [];
  // index=on needs file handles on the layers' filesystem: one plain mount tells.
  const trial = join(dir, 'index-trial');
  writeTree(trial, { 'l/': null, 'u/': null, 'm/': null });
  try {
    lib.mountOverlaySync({ lower: [join(trial, 'l')], upper: join(trial, 'u'), work: join(trial, 'w'), target: join(trial, 'm'), options: { index: 'on' } }).unmountSync();
    phases.push(['index=on', { index: 'on' }]);
  } catch (e) {
    skipped.push(`index=on not run: one mount with it failed here (${e.message})`);
  }
  const parts = [];
  const problems = [];
  const details = { processes: SHARED_PROCESSES, holdMs: SHARED_HOLD_MS, phases: {}, skipped };
  for (const [name, options] of phases) {
    const r = await sharedUpperPhase(join(dir, name), options, seconds / phases.length);
    parts.push(`${name}: ${r.text}`);
    problems.push(...r.problems.map((p) => `${name}: ${p}`));
    details.phases[name] = r.details;
  }
  return {
    summary: `${SHARED_PROCESSES} processes (2 sync, 2 Promise), hold ${SHARED_HOLD_MS} ms; ${parts.join('; ')}${skipped.length ? `; ${skipped.join('; ')}` : ''}`,
    problems,
    details,
  };
}

// The racer of test/privileged/layer-swap.test.ts, which dies with this run (PR_SET_PDEATHSIG)
// and reports how many swaps it made when stopped (SIGTERM).
const RACER = `
import ctypes, json, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
a, b = sys.argv[1].encode(), sys.argv[2].encode()
AT_FDCWD, RENAME_EXCHANGE = -100, 2
n = 0
def stop(*_):
    print(json.dumps({"type": "swaps", "n": n}), flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
print(json.dumps({"type": "ready"}), flush=True)
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    n += 1
`;

async function layerSwap(seconds) {
  const dir = join(base, 'layer-swap');
  writeTree(dir, { 'a/which': 'a', 'decoy/which': 'decoy', 'base/b': 'b', 'u/': null, 'm/': null });
  const problems = [];
  const runs = [
    [null, seconds / 2],
    ['lowerdir+', seconds / 4],
    ['legacy', seconds / 4],
  ];
  // A directory keeps its inode wherever the racer moves it: which is which, before it starts.
  const inodes = { a: statSync(join(dir, 'a')).ino, decoy: statSync(join(dir, 'decoy')).ino };
  const racer = start('python3', ['-c', RACER, join(dir, 'a'), join(dir, 'decoy')]);
  let results = [];
  let swaps = null;
  try {
    await waitFor(racer, 'ready', 30_000);
    const k = node('layer-swap.mjs', { root: dir, inodes, runs });
    await ended(k, (seconds + 60) * 1000);
    results = k.lines.filter((l) => l.type === 'result');
    if (results.length !== runs.length) problems.push(`${describe(k)} gave ${results.length} of ${runs.length} results${tail(k)}`);
    if (racer.exitCode !== null) problems.push(`the racer stopped early${tail(racer)}: the race did not run`);
    else {
      racer.kill('SIGTERM');
      swaps = (await waitFor(racer, 'swaps', 10_000).catch(() => null))?.n ?? null;
    }
  } finally {
    if (racer.exitCode === null) racer.kill('SIGKILL');
    await racer.ended;
  }
  const label = (r) => (r.strategy === null ? `${r.used.join('+') || '?'} (default)` : r.strategy);
  for (const r of results) {
    if (r.errors > 0) problems.push(`${label(r)}: ${r.errors} mount(s) failed other than ERR_LAYER_CHANGED`);
    if (r.unobserved > 0) problems.push(`${label(r)}: ${r.unobserved} mount(s) without one observed validation of a known directory: the count is void`);
  }
  const def = results.find((r) => r.strategy === null);
  if (def) {
    if (def.wrong > 0) problems.push(`the default strategy (${label(def)}) mounted a directory other than the validated one ${def.wrong} time(s)`);
    if (def.mounted + def.refused === 0) problems.push('the default strategy never completed an attempt');
  }
  const left = mountsUnder(dir);
  if (left.length > 0) problems.push(`still mounted: ${left.join(', ')}`);
  const parts = results.map((r) =>
    r.strategy === null
      ? `${label(r)}: ${n(r.mounted)} mounted, ${n(r.refused)} refused (ERR_LAYER_CHANGED), ${r.wrong} wrong`
      : `${label(r)}: ${n(r.mounted)} mounted, ${r.wrong} wrong (not asserted)`,
  );
  return {
    summary: `${parts.join('; ')}; racer: ${swaps === null ? '?' : n(swaps)} swaps`,
    problems,
    details: { runs: results, swaps },
  };
}

async function kill9(seconds) {
  const dir = join(base, 'kill-9');
  writeTree(dir, { 'lower/file': 'lower\n', 'upper/': null, 'm/': null });
  const cfg = { lower: join(dir, 'lower'), upper: join(dir, 'upper'), work: join(dir, 'work'), target: join(dir, 'm') };
  const problems = [];
  const s = { kills: 0, recoveries: 0, recovered: 0, unmountedLeftover: 0, leftMounted: 0, workMissing: 0, locksHeld: 0, sharedUpper: 0, oddWorkDirs: 0, victimErrors: 0, delaysMs: [] };
  const note = (msg) => problems.length < 10 && problems.push(msg);

  /** A fresh process's recovery (and, with victim, its loop from 'ready' on). */
  async function recovery(victim) {
    const k = node('kill-victim.mjs', { ...cfg, victim });
    let rec;
    try {
      rec = await waitFor(k, 'recovery', 60_000);
    } catch (e) {
      note(`recovery: ${e.message}`);
      await ended(k, 1000);
      return null;
    }
    s.recoveries++;
    if (rec.ok) s.recovered++;
    else note(`recovery ${s.recoveries} failed: ${rec.error?.message ?? '?'}`);
    if (rec.unmountedLeftover) s.unmountedLeftover++;
    return rec.ok ? k : (await ended(k, 10_000), null);
  }

  const end = Date.now() + seconds * 1000;
  while (Date.now() < end && !interrupted) {
    const k = await recovery(true);
    if (k === null) break; // a failed recovery leaves a state the next would inherit: stop here
    try {
      await waitFor(k, 'ready', 30_000);
    } catch (e) {
      s.victimErrors++;
      note(e.message);
      await ended(k, 1000);
      break;
    }
    const delay = Math.random() * 50;
    s.delaysMs.push(delay);
    await sleep(delay);
    if (k.exitCode === null) process.kill(k.pid, 'SIGKILL');
    const e = await k.ended;
    if (e.signal !== 'SIGKILL') {
      s.victimErrors++;
      const err = k.lines.find((l) => l.type === 'victim-error');
      note(`the victim ended by itself (${e.signal ?? `exit ${e.code}`}): ${err?.error?.message ?? ''}${tail(k)}`);
      break;
    }
    s.kills++;
    // What the dead process left, before the next one touches it.
    const users = overlaysWithUpper(cfg.upper);
    if (users.length === 1 && users[0].mountPoint === cfg.target) s.leftMounted++;
    else if (users.length > 0) {
      s.sharedUpper++;
      note(`after kill ${s.kills}: overlays on the upper at ${users.map((u) => u.mountPoint).join(', ')}`);
    }
    for (const p of [cfg.upper, cfg.work]) {
      if (lockHeld(p)) {
        s.locksHeld++;
        note(`after kill ${s.kills}: ${p} is still locked`);
      }
    }
    if (!existsSync(cfg.work)) s.workMissing++;
    else {
      const odd = readdirSync(cfg.work).filter((e) => e !== 'work' && e !== 'index');
      if (odd.length > 0) {
        s.oddWorkDirs++;
        note(`after kill ${s.kills}: the work dir holds ${odd.join(', ')}`);
      }
    }
  }
  // The last kill needs its recovery too.
  if (s.recoveries === s.kills && !interrupted) await recovery(false);

  if (s.recovered !== s.recoveries) note(`${s.recoveries - s.recovered} of ${s.recoveries} recoveries failed`);
  if (s.kills === 0) note('no process was killed');
  const left = mountsUnder(dir);
  if (left.length > 0) note(`still mounted: ${left.join(', ')}`);
  for (const p of [cfg.upper, cfg.work]) if (lockHeld(p)) note(`${p} is still locked at the end`);
  return {
    summary:
      `${n(s.kills)} SIGKILLs 0-50 ms into a mount/unmount loop; ${s.recovered}/${s.recoveries} fresh processes recovered ` +
      `(${s.unmountedLeftover} by unmounting the overlay the killed one left; ${s.workMissing} found no work dir); ` +
      `after the kills: ${s.locksHeld} locks held, ${s.sharedUpper} shared uppers, ${s.oddWorkDirs} odd work dirs`,
    problems,
    details: { ...s, delaysMs: undefined, medianDelayMs: median(s.delaysMs) },
  };
}

async function concurrent(seconds) {
  const dir = join(base, 'concurrent');
  mkdirSync(dir);
  const problems = [];
  const k = node('concurrent.mjs', { dir, n: 64, seconds, minRounds: 3 }, ['--expose-gc']);
  await ended(k, (seconds + 120) * 1000);
  const r = k.lines.find((l) => l.type === 'result');
  if (!r) return { summary: 'no result', problems: [`${describe(k)} gave no result${tail(k)}`], details: {} };
  if (r.errors > 0) problems.push(`${r.errors} mount(s)/unmount(s) failed: ${r.samples.map((x) => x.error.message).slice(0, 3).join(' | ')}`);
  if (r.wrongContent > 0) problems.push(`${r.wrongContent} merged dir(s) did not show the lower layer`);
  if (r.fdsAfter !== r.fdsBefore) problems.push(`${r.fdsAfter - r.fdsBefore} fd(s) more after the rounds`);
  if (r.finalizerClosed !== 0) problems.push(`${r.finalizerClosed} handle(s) were closed by a finalizer, not explicitly`);
  const left = [...new Set([...r.mountsLeft, ...mountsUnder(dir)])];
  if (left.length > 0) problems.push(`${left.length} mount(s) left: ${left.slice(0, 3).join(', ')}`);
  return {
    summary:
      `${r.rounds} rounds × ${r.n} concurrent mountOverlay() then unmount(): ${n(r.mounts)} mounts, ${r.errors} errors; ` +
      `fds ${r.fdsBefore} → ${r.fdsAfter}, ${r.finalizerClosed} closed by a finalizer, ${left.length} mounts left; ${median(r.roundMs).toFixed(1)} ms per round (median)`,
    problems,
    details: { ...r, type: undefined, roundMs: undefined, medianRoundMs: median(r.roundMs) },
  };
}

// ---- set-up and clean-up ----

let cleaning = null;
/**
 * Kills the children still running, waits (briefly) for them, detaches every mount under base
 * and removes it. Once: later calls get the same promise.
 */
function cleanup() {
  cleaning ??= (async () => {
    killChildren();
    await Promise.race([Promise.all([...live].map((c) => c.ended)), sleep(5000)]);
    // A killed child's mounts stay in this namespace: detach them, innermost first, then the tmpfs.
    for (let attempt = 0; attempt < 3 && mountsUnder(base).length > 0; attempt++) {
      for (const m of mountsUnder(base).reverse()) {
        try {
          sys.umount2Sync(m, { flags: MNT.DETACH });
        } catch {
          /* already gone */
        }
      }
    }
    if (mountsUnder(base).length === 0) rmSync(base, { recursive: true, force: true });
    else console.error(`stress: mounts left under ${base} (the namespace ends with this process)`);
  })();
  return cleaning;
}

// A signal stops the run: no child is started any more and the running ones are killed, so the
// scenario under way ends at once and the main flow below cleans up and exits. Should it not
// within 10 s, the clean-up runs from here.
const exitCodeOf = (sig) => 128 + os.constants.signals[sig];
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = sig;
    console.error(`stress: ${sig}: stopping, cleaning up`);
    killChildren();
    setTimeout(() => cleanup().finally(() => process.exit(exitCodeOf(sig))), 10_000).unref();
  });
}

const RUNNERS = { 'shared-upper': sharedUpper, 'layer-swap': layerSwap, 'kill-9': kill9, concurrent };
const machine = { kernel: os.release(), nproc: os.availableParallelism(), node: process.version, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), date: new Date().toISOString() };
const out = { ok: true, secondsPerScenario: opt.seconds, machine, scenarios: [] };
const t0 = Date.now();
try {
  sys.mountSync('tmpfs', base, 'tmpfs', { data: 'mode=0755' });
  lib.probeSync();
  for (const name of opt.only) {
    if (interrupted) break;
    log(`${name}: ${opt.seconds} s ...`);
    const t = Date.now();
    let r;
    try {
      r = await RUNNERS[name](opt.seconds);
    } catch (e) {
      r = { summary: 'could not run', problems: [String(e?.stack ?? e)], details: {} };
    }
    if (interrupted) break;
    const ok = r.problems.length === 0;
    out.ok &&= ok;
    out.scenarios.push({ name, ok, elapsedSeconds: Number(((Date.now() - t) / 1000).toFixed(1)), summary: r.summary, problems: r.problems, details: r.details });
    if (!opt.json) {
      process.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(12)}  ${r.summary}\n`);
      for (const p of r.problems) process.stdout.write(`      ${p}\n`);
    }
  }
} catch (e) {
  console.error('stress: failed:', e);
  out.ok = false;
} finally {
  await cleanup();
}
if (interrupted) process.exit(exitCodeOf(interrupted));
out.elapsedSeconds = Number(((Date.now() - t0) / 1000).toFixed(1));
if (opt.json) process.stdout.write(JSON.stringify(out, null, 2) + '\n');
else {
  const failed = out.scenarios.filter((s) => !s.ok).map((s) => s.name);
  process.stdout.write(
    out.ok
      ? `stress: every invariant held (${out.scenarios.length} scenario${out.scenarios.length === 1 ? '' : 's'}, ${out.elapsedSeconds} s)\n`
      : `stress: FAILED${failed.length ? `: ${failed.join(', ')}` : ''} (${out.elapsedSeconds} s)\n`,
  );
}
process.exit(out.ok ? 0 : 1);

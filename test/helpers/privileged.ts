/**
 * describe() for tests that mount. Where they cannot run, each test is reported as skipped with
 * the reason in its name; scripts/run-tests.mjs fails a CI run (CI=true) that skipped any.
 *
 * Narrower gates for tests that need more than root: a kernel feature (as the library's own
 * probeSync() reports it) or a readable kernel log. Where one is missing the test is skipped
 * with the reason in its name; but in CI=true as root, where every one is expected, it is
 * registered as a failing test that says what is missing instead.
 */
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { beforeEach, describe, it, type TestContext } from 'vitest';
import { probeSync, type Capabilities } from '../../src/mount/probe.js';
import type { Strategy } from '../../src/spec/types.js';
import { inCI, isRoot, privilegedSkipReason } from './caps.js';

export const skipReason = privilegedSkipReason();

export function describePrivileged(name: string, fn: () => void): void {
  if (skipReason === null) describe(name, fn);
  else describe.skip(`${name} [skipped: ${skipReason}]`, fn);
}

/** The kernel features a test may need, named as probeSync() reports them. */
export const KERNEL_FEATURES = {
  fsContextParser: "overlay's own fsconfig parser: unknown keys refused (Linux 6.5)",
  lowerdirPlus: "fsconfig 'lowerdir+', one layer per call",
  datadirPlus: "fsconfig 'datadir+'",
  layersByFd: 'FSCONFIG_SET_FD for overlay layers (Linux 6.13)',
  createExcl: 'FSCONFIG_CMD_CREATE_EXCL (Linux 6.6)',
  mountIdUnique: 'statx STATX_MNT_ID_UNIQUE (Linux 6.8)',
  statmount: 'statmount(2) (Linux 6.8)',
  statmountOptionArray: "statmount's STATMOUNT_OPT_ARRAY",
} as const satisfies Partial<Record<keyof Capabilities, string>>;
export type KernelFeature = keyof typeof KERNEL_FEATURES;

/** What `caps` lacks of `features`, as a skip reason; null when it has them all. */
export function missingKernelFeatures(caps: Pick<Capabilities, 'kernel'> & Partial<Pick<Capabilities, KernelFeature>>, features: readonly KernelFeature[]): string | null {
  const missing = features.filter((f) => caps[f] !== true);
  if (missing.length === 0) return null;
  return `kernel ${caps.kernel} lacks ${missing.map((f) => `${f}: ${KERNEL_FEATURES[f]}`).join('; ')}`;
}

/** The features a forced strategy needs ('legacy' and the automatic choice: none). */
export function strategyNeeds(strategy: Strategy | undefined): KernelFeature[] {
  if (strategy === 'fd') return ['layersByFd'];
  if (strategy === 'lowerdir+') return ['lowerdirPlus'];
  return [];
}

/** In CI=true as root (in the private mount namespace), a missing feature fails instead of skipping. */
const strict = inCI && isRoot && skipReason === null;

function kernelGate(features: KernelFeature | readonly KernelFeature[]): string | null {
  if (skipReason !== null) return skipReason;
  return missingKernelFeatures(probeSync(), typeof features === 'string' ? [features] : features);
}

function kernelLogGate(): string | null {
  try {
    closeSync(openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK));
    return null;
  } catch (e) {
    return `the kernel log cannot be read here (open /dev/kmsg: ${(e as NodeJS.ErrnoException).code})`;
  }
}

function ciFailure(reason: string): Error {
  return new Error(`CI=true requires this test to run, but ${reason}`);
}

function gatedIt(reason: string | null, name: string, fn: () => unknown, timeout?: number): void {
  if (reason === null) it(name, fn, timeout);
  // Not privileged: the describePrivileged()/describeWithKernel() around it already says why.
  else if (reason === skipReason) it.skip(name, fn);
  else if (strict) {
    it(`${name} [${reason}]`, () => {
      throw ciFailure(reason);
    });
  } else it.skip(`${name} [skipped: ${reason}]`, fn);
}

/**
 * it() for a test that needs kernel features, inside describePrivileged() or
 * describeWithKernel(): `itWithKernel('layersByFd', name, fn)`.
 */
export function itWithKernel(features: KernelFeature | readonly KernelFeature[], name: string, fn: () => unknown, timeout?: number): void {
  gatedIt(kernelGate(features), name, fn, timeout);
}

/** describe() behind a gate: skipped with the reason, or in CI=true as root every test failing with it. */
function gatedDescribe(reason: string | null, name: string, fn: () => void): void {
  if (reason === null) describe(name, fn);
  else if (strict) {
    describe(`${name} [${reason}]`, () => {
      beforeEach(() => {
        throw ciFailure(reason);
      });
      fn();
    });
  } else describe.skip(`${name} [skipped: ${reason}]`, fn);
}

/** describePrivileged() for a block whose every test needs kernel features. */
export function describeWithKernel(features: KernelFeature | readonly KernelFeature[], name: string, fn: () => void): void {
  gatedDescribe(kernelGate(features), name, fn);
}

/**
 * The gate at run time, for capabilities known only then (a probe made in a child process, e.g.
 * in a user namespace): skips the running test with the reason, or fails it in CI=true as root.
 */
export function requireKernel(ctx: TestContext, caps: Parameters<typeof missingKernelFeatures>[0], features: KernelFeature | readonly KernelFeature[]): void {
  const reason = missingKernelFeatures(caps, typeof features === 'string' ? [features] : features);
  if (reason === null) return;
  if (inCI && isRoot) throw ciFailure(reason);
  ctx.skip(reason);
}

/**
 * itWithKernel() for a test that checks what the kernel logged (/dev/kmsg, which needs
 * CAP_SYSLOG where kernel.dmesg_restrict is 1): words that reach an error or a hint only
 * through the log.
 */
export function itWithKernelLog(features: KernelFeature | readonly KernelFeature[], name: string, fn: () => unknown, timeout?: number): void {
  gatedIt(kernelGate(features) ?? kernelLogGate(), name, fn, timeout);
}

/** Why a program the test runs is not here (searched on PATH), or null when it is. */
function toolGate(tool: string): string | null {
  if (skipReason !== null) return skipReason;
  const found = (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(`${dir}/${tool}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return found ? null : `${tool} is not installed (the test runs it as an independent implementation or a second process)`;
}

/** describePrivileged() for a block whose tests run `tool` (python3): skipped without it, a failure in CI. */
export function describeWithTool(tool: string, name: string, fn: () => void): void {
  gatedDescribe(toolGate(tool), name, fn);
}

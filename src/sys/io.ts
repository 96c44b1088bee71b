/**
 * Logic written once for both API forms. A task that does I/O is a generator that yields what
 * it needs done (a batch of steps, a file read, a mkdir, ...) and gets the answer back; runSync()
 * does each request on the calling thread, runAsync() off it (the addon's thread-pool call,
 * fs.promises). So `mountOverlaySync` and `mountOverlay` are one function with two drivers, and
 * the Promise form never blocks the event loop. A failed request is thrown into the generator
 * at its `yield`, so its try/catch/finally run as they would around a direct call.
 *
 * Tasks use the typed helpers below (`const r = yield* steps([...])`), not raw yields.
 */
import * as fs from 'node:fs';
import type { StepsResult } from './native-types.js';
import { runSteps, runStepsSync, type Step } from './steps.js';

export type Request =
  | { io: 'steps'; steps: readonly Step[] }
  | { io: 'readFile'; path: string }
  | { io: 'readText'; path: string }
  | { io: 'mkdir'; path: string }
  | { io: 'rm'; path: string }
  | { io: 'chmod'; path: string; mode: number }
  | { io: 'lstat'; path: string }
  | { io: 'statfs'; path: string }
  | { io: 'readdir'; path: string }
  | { io: 'openRead'; path: string; flags: number }
  | { io: 'read'; fd: number; buffer: Buffer }
  | { io: 'close'; fd: number };

/** A task: yields requests, gets their answers, returns T. */
export type Task<T> = Generator<Request, T, unknown>;

/** Does one request on the calling thread. */
export function perform(r: Request): unknown {
  switch (r.io) {
    case 'steps':
      return runStepsSync(r.steps);
    case 'readFile':
      return fs.readFileSync(r.path);
    case 'readText':
      return fs.readFileSync(r.path, 'utf8');
    case 'mkdir':
      return fs.mkdirSync(r.path, { recursive: true });
    case 'rm':
      return fs.rmSync(r.path, { recursive: true, force: true });
    case 'chmod':
      return fs.chmodSync(r.path, r.mode);
    case 'lstat':
      return fs.lstatSync(r.path, { throwIfNoEntry: false });
    case 'statfs':
      return fs.statfsSync(r.path);
    case 'readdir':
      return fs.readdirSync(r.path, { withFileTypes: true });
    case 'openRead':
      return fs.openSync(r.path, r.flags);
    case 'read':
      return fs.readSync(r.fd, r.buffer, 0, r.buffer.length, null);
    case 'close':
      return fs.closeSync(r.fd);
  }
}

/** Does one request off the main thread. */
export function performAsync(r: Request): Promise<unknown> {
  switch (r.io) {
    case 'steps':
      return runSteps(r.steps);
    case 'readFile':
      return fs.promises.readFile(r.path);
    case 'readText':
      return fs.promises.readFile(r.path, 'utf8');
    case 'mkdir':
      return fs.promises.mkdir(r.path, { recursive: true });
    case 'rm':
      return fs.promises.rm(r.path, { recursive: true, force: true });
    case 'chmod':
      return fs.promises.chmod(r.path, r.mode);
    case 'lstat':
      return fs.promises.lstat(r.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return undefined;
        throw e;
      });
    case 'statfs':
      return fs.promises.statfs(r.path);
    case 'readdir':
      return fs.promises.readdir(r.path, { withFileTypes: true });
    case 'openRead':
      return new Promise((resolve, reject) => fs.open(r.path, r.flags, (e, fd) => (e ? reject(e) : resolve(fd))));
    case 'read':
      return new Promise((resolve, reject) => fs.read(r.fd, r.buffer, 0, r.buffer.length, null, (e, n) => (e ? reject(e) : resolve(n))));
    case 'close':
      return new Promise<void>((resolve, reject) => fs.close(r.fd, (e) => (e ? reject(e) : resolve())));
  }
}

/** Whether a task's yielded value is a request (tasks that stream results yield those too). */
export function isRequest(value: unknown): value is Request {
  return typeof value === 'object' && value !== null && typeof (value as { io?: unknown }).io === 'string';
}

/** Runs a task on the calling thread. */
export function runSync<T>(task: Task<T>): T {
  let next = task.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = perform(next.value);
    } catch (e) {
      next = task.throw(e);
      continue;
    }
    next = task.next(answer);
  }
  return next.value;
}

/** Runs a task with every request off the main thread. */
export async function runAsync<T>(task: Task<T>): Promise<T> {
  let next = task.next();
  while (!next.done) {
    let answer: unknown;
    try {
      answer = await performAsync(next.value);
    } catch (e) {
      next = task.throw(e);
      continue;
    }
    next = task.next(answer);
  }
  return next.value;
}

// ---- typed requests ----

export function* steps(list: readonly Step[]): Task<StepsResult> {
  return (yield { io: 'steps', steps: list }) as StepsResult;
}
export function* readText(path: string): Task<string> {
  return (yield { io: 'readText', path }) as string;
}
export function* readFile(path: string): Task<Buffer> {
  return (yield { io: 'readFile', path }) as Buffer;
}
/** mkdir -p; the first directory it created, if any. */
export function* mkdirs(path: string): Task<string | undefined> {
  return (yield { io: 'mkdir', path }) as string | undefined;
}
/** rm -rf. */
export function* removeTree(path: string): Task<void> {
  yield { io: 'rm', path };
}
export function* chmod(path: string, mode: number): Task<void> {
  yield { io: 'chmod', path, mode };
}
/** lstat, or undefined when the path does not exist. */
export function* lstat(path: string): Task<fs.Stats | undefined> {
  return (yield { io: 'lstat', path }) as fs.Stats | undefined;
}
export function* statfs(path: string): Task<fs.StatsFs> {
  return (yield { io: 'statfs', path }) as fs.StatsFs;
}
export function* readdir(path: string): Task<fs.Dirent[]> {
  return (yield { io: 'readdir', path }) as fs.Dirent[];
}
export function* openRead(path: string, flags: number): Task<number> {
  return (yield { io: 'openRead', path, flags }) as number;
}
export function* read(fd: number, buffer: Buffer): Task<number> {
  return (yield { io: 'read', fd, buffer }) as number;
}
export function* closeFd(fd: number): Task<void> {
  yield { io: 'close', fd };
}

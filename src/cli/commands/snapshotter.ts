/**
 * ovl snapshotter: the store served to containerd as a snapshotter (a proxy plugin), until
 * SIGTERM or SIGINT, when calls in flight finish and it exits 0. Its log (stderr): one line per
 * call with the method, the key and the duration. `--health` asks a running one instead.
 */
import { checkHealth, startSnapshotter } from '../../snapshotter/server.js';
import { EXIT_OK, UsageError, type Values } from '../command.js';
import { err, json, out } from '../output.js';
import { storeOf } from '../store.js';

export async function snapshotterCommand(values: Values, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('takes no arguments');
  const socket = values.socket;
  if (typeof socket !== 'string' || socket === '') throw new UsageError('--socket PATH is needed (containerd\'s [proxy_plugins.NAME] address)');
  if (values.health) {
    const status = await checkHealth(socket);
    if (values.json) json({ socket, status });
    else out(status);
    return status === 'SERVING' ? EXIT_OK : 1;
  }
  const store = await storeOf(values);
  const stamp = () => new Date().toISOString();
  const log = values.quiet ? () => {} : (line: string) => err(`${stamp()} ${line}`);
  for (const p of store.recovery.removed) log(`recovery: removed ${p}`);
  const server = await startSnapshotter({ socket, store, log });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: finishing the calls in flight`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.close();
  log('stopped');
  return EXIT_OK;
}

/**
 * The snapshotter: containerd's Snapshots gRPC service (a proxy plugin's socket) over a store,
 * each call one Store method (the store does the work, under its locks). A thin adapter: requests
 * in, the store's answers and errors out as containerd reads them (its errdefs over gRPC codes:
 * AlreadyExists, NotFound, FailedPrecondition, InvalidArgument), one log line per call with its
 * method, key and duration, and grpc.health.v1 for a health check.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { rm } from 'node:fs/promises';
import type { ServerUnaryCall, sendUnaryData, ServerWritableStream, Server } from '@grpc/grpc-js';
import { isOverlayError, OverlayError } from '../spec/errors.js';
import { SnapshotExistsError, type SnapshotInfo, type SnapshotMount } from '../store/snapshots.js';
import type { Store } from '../store/store.js';
import { matchesAny, parseFilter, type FilterTerm } from './filters.js';
import { descriptor, HEALTH_SERVICE, SNAPSHOTS_SERVICE } from './proto.js';

export interface SnapshotterOptions {
  /** The unix socket to serve on (containerd's `[proxy_plugins.NAME] address`). */
  socket: string;
  store: Store;
  /** Each call's line (`Prepare key=… 3.1 ms`), and the server's own; default: none. */
  log?: (line: string) => void;
}

export interface Snapshotter {
  /** `unix:PATH`. */
  address: string;
  /** Stops taking calls, lets those in flight finish (at most `graceMs`, default 30 s), then closes. */
  close(graceMs?: number): Promise<void>;
}

// gRPC status codes (grpc/status.h).
const Status = { UNKNOWN: 2, INVALID_ARGUMENT: 3, NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9, UNAVAILABLE: 14 } as const;

interface Timestamp {
  seconds: number;
  nanos: number;
}

const timestamp = (iso: string): Timestamp => {
  const ms = Date.parse(iso);
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
};

const KIND = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' } as const;

function infoMessage(i: SnapshotInfo) {
  return { name: i.name, parent: i.parent ?? '', kind: KIND[i.kind], created_at: timestamp(i.created), updated_at: timestamp(i.updated), labels: i.labels };
}

const mountMessages = (mounts: SnapshotMount[]) => mounts.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options }));

/** The store's error as containerd reads it. */
export function grpcStatus(e: unknown): { code: number; details: string } {
  const details = (e as Error)?.message ?? String(e);
  if (e instanceof SnapshotExistsError) return { code: Status.ALREADY_EXISTS, details };
  if (isOverlayError(e, 'ERR_NOT_FOUND')) return { code: Status.NOT_FOUND, details };
  if (isOverlayError(e, 'ERR_CONFLICT')) return { code: Status.FAILED_PRECONDITION, details };
  if (isOverlayError(e, 'ERR_OVERLAY_SPEC')) return { code: Status.INVALID_ARGUMENT, details };
  return { code: Status.UNKNOWN, details };
}

/**
 * gRPC, loaded on first use (it is large, and only the snapshotter needs it). Through require():
 * both packages are CommonJS, and the library's bundles run as CommonJS compiled from a code
 * cache (src/boot/load.ts), where a dynamic import() would need an experimental vm hook.
 */
function loadGrpc(): { grpc: typeof import('@grpc/grpc-js'); loader: typeof import('@grpc/proto-loader') } {
  const require = createRequire(import.meta.url);
  return { grpc: require('@grpc/grpc-js') as typeof import('@grpc/grpc-js'), loader: require('@grpc/proto-loader') as typeof import('@grpc/proto-loader') };
}

/** Whether something answers on the socket (a running snapshotter must not lose its socket). */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startSnapshotter(options: SnapshotterOptions): Promise<Snapshotter> {
  const { grpc, loader } = loadGrpc();
  const { store, socket } = options;
  const log = options.log ?? (() => {});
  if (await listening(socket)) throw new OverlayError('ERR_CONFLICT', `'${socket}': a server is listening there already`, { path: socket });
  // A socket file a dead server left.
  await rm(socket, { force: true });

  const packages = loader.fromJSON(descriptor as never, { keepCase: true, longs: Number, enums: String, defaults: true });
  const def = grpc.loadPackageDefinition(packages) as unknown as Record<string, any>;
  const snapshots = def.containerd.services.snapshots.v1.Snapshots.service;
  const health = def.grpc.health.v1.Health.service;

  /** A unary handler: the store's call, logged, its error as a gRPC status. */
  const unary =
    <Req, Res>(method: string, fn: (req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const t0 = performance.now();
      const r = call.request as { key?: string; name?: string; info?: { name?: string } };
      const key = r.key || r.name || r.info?.name || '';
      fn(call.request).then(
        (res) => {
          log(`${method} ${key ? `key=${JSON.stringify(key)} ` : ''}${(performance.now() - t0).toFixed(1)} ms`);
          callback(null, res);
        },
        (e: unknown) => {
          const s = grpcStatus(e);
          log(`${method} ${key ? `key=${JSON.stringify(key)} ` : ''}${(performance.now() - t0).toFixed(1)} ms error: ${s.details}`);
          callback({ code: s.code, details: s.details } as never, null);
        },
      );
    };

  type Labels = Record<string, string>;
  const server: Server = new grpc.Server();
  server.addService(snapshots, {
    Prepare: unary('Prepare', async (r: { key: string; parent: string; labels: Labels }) => ({ mounts: mountMessages(await store.prepareSnapshot(r.key, r.parent || undefined, r.labels)) })),
    View: unary('View', async (r: { key: string; parent: string; labels: Labels }) => ({ mounts: mountMessages(await store.viewSnapshot(r.key, r.parent || undefined, r.labels)) })),
    Mounts: unary('Mounts', async (r: { key: string }) => ({ mounts: mountMessages(await store.snapshotMounts(r.key)) })),
    Commit: unary('Commit', async (r: { name: string; key: string; labels: Labels }) => {
      await store.commitSnapshot(r.name, r.key, r.labels);
      return {};
    }),
    Remove: unary('Remove', async (r: { key: string }) => {
      await store.removeSnapshot(r.key);
      return {};
    }),
    Stat: unary('Stat', async (r: { key: string }) => ({ info: infoMessage(await store.statSnapshot(r.key)) })),
    Update: unary('Update', async (r: { info: { name: string; labels: Labels }; update_mask?: { paths: string[] } }) => ({
      info: infoMessage(await store.updateSnapshot({ name: r.info?.name, labels: r.info?.labels ?? {} }, r.update_mask?.paths ?? [])),
    })),
    Usage: unary('Usage', async (r: { key: string }) => store.snapshotUsage(r.key)),
    Cleanup: unary('Cleanup', async () => {
      const rec = await store.recover();
      if (!rec.ran) log('Cleanup: the store is busy; what a crash left is removed at the next Cleanup');
      for (const p of rec.removed) log(`Cleanup: removed ${p}`);
      return {};
    }),
    List: (call: ServerWritableStream<{ filters: string[] }, unknown>) => {
      const t0 = performance.now();
      (async () => {
        const filters: FilterTerm[][] = (call.request.filters ?? []).filter((f) => f !== '').map(parseFilter);
        const all = await store.snapshots();
        const hits = all.filter((i) =>
          matchesAny(filters, (path) => {
            const [head, ...rest] = path;
            if (head === 'name') return i.name;
            if (head === 'parent') return i.parent;
            if (head === 'kind') return i.kind;
            if (head === 'labels' && rest.length > 0) return i.labels[rest.join('.')];
            return undefined;
          }),
        );
        // A message per 100 snapshots: a gRPC message has a size limit, a store has no count limit.
        for (let k = 0; k < hits.length; k += 100) call.write({ info: hits.slice(k, k + 100).map(infoMessage) });
        call.end();
        log(`List ${hits.length} of ${all.length} ${(performance.now() - t0).toFixed(1)} ms`);
      })().catch((e: unknown) => {
        const s = grpcStatus(e);
        log(`List error: ${s.details}`);
        call.destroy(Object.assign(new Error(s.details), { code: s.code, details: s.details }));
      });
    },
  });
  server.addService(health, {
    Check: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => callback(null, { status: 'SERVING' }),
  });

  const address = `unix:${socket}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  log(`serving ${SNAPSHOTS_SERVICE} and ${HEALTH_SERVICE} on ${address} (store ${store.root})`);
  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs = 30_000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log(`calls still running after ${graceMs} ms: closed`);
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }).then(() => rm(socket, { force: true }));
      return closing;
    },
  };
}

/** Asks a snapshotter's health service; 'SERVING' when it answers so. */
export async function checkHealth(socket: string, timeoutMs = 5000): Promise<string> {
  const { grpc, loader } = loadGrpc();
  const def = grpc.loadPackageDefinition(loader.fromJSON(descriptor as never, { keepCase: true, enums: String, defaults: true })) as unknown as Record<string, any>;
  const client = new def.grpc.health.v1.Health(`unix:${socket}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<string>((resolve, reject) =>
      client.Check({ service: '' }, { deadline: Date.now() + timeoutMs }, (e: Error | null, res: { status: string }) => (e ? reject(e) : resolve(res.status))),
    );
  } finally {
    client.close();
  }
}

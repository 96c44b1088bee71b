/** The raw syscall surface: one function per syscall mode, a Promise form and a …Sync form. */
export { adoptFd, flock, flockSync, lseek, lseekSync, open, openat2, openat2Sync, openSync, type FdHandle, type Openat2Options, type OpenOptions } from './fd.js';
export * from './mount-api.js';
export * from './mount-legacy.js';
export * from './statmount.js';
export * from './inodes.js';
export { LayerWriter, openLayerWriter, WriteBatch, type EntryMeta, type LayerWriterOptions } from './layer-writer.js';
export { runSteps, runStepsSync, type Step, type StepFd, type StepsResult } from './steps.js';
export type { ArgsOf, StepCommon, StepOf, OpName } from './step-schema.js';
export * from './xattr.js';
export { PoolHasher, readEntries, readEntriesSync, type EntriesRead, type EntryRead, type EntryRequest, type ReadOptions } from './layer-reader.js';

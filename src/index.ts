/**
 * overlayfs: drive the Linux kernel's overlay filesystem from Node.
 *
 * Every blocking function has a Promise form (its I/O off the main thread) and a …Sync form,
 * as Node's fs has. What is exported here is the whole public API; README.md documents each.
 */

// Mounting overlays: spec → validate → plan → mount → handle.
export { mountOverlay, mountOverlaySync, type MountOverlayOptions } from './mount/overlay.js';
export { MountHandle, OverlayMount, type OverlayUnmountOptions, type OverlayUnmountResult, type UnmountOptions } from './mount/handle.js';
export type { MountHolder } from './read/holders.js';
export { validateSpec, validateSpecSync } from './mount/validate.js';
export { probe, probeIdmap, probeIdmapSync, probeSync, type Capabilities, type IdmapSupport, type ModuleDefaults } from './mount/probe.js';
export { formatPlan, plan, type DataPiece, type MountPlan, type PlannedStep } from './mount/plan.js';
export { bindMount, bindMountSync, tmpfsMount, tmpfsMountSync, type BeneathOption, type BindOptions, type TmpfsOptions } from './mount/volumes.js';
export { remount, remountSync } from './mount/remount.js';
export { cleanWorkdir, cleanWorkdirSync, hasStaleVolatile, hasStaleVolatileSync, overlaysUsing, overlaysUsingSync, type DirUser } from './mount/workdir.js';
export { isMountError, type OverlayMountError } from './mount/failure.js';
export { unmountOverlay, unmountOverlaySync, type UnmountOverlayOptions, type UnmountOverlayResult } from './mount/unmount.js';

// The spec and mount(8)'s syntax for it (pure: no addon needed).
export type { MountAttributes, NamespaceFd, OnOff, OverlayIdMap, OverlayOptions, OverlaySpec, Strategy } from './spec/types.js';
export { MAX_LAYERS } from './spec/options.js';
export { parseMountOptions, specFromMountOptions, splitMountOptions, type ParsedMountOptions } from './spec/mount-syntax.js';
export { escapeLegacyPath, splitLegacyLowerdir } from './spec/escape.js';

// Errors: the library's own, and Node's shape for failed syscalls.
export { isOverlayError, OverlayError, OverlaySpecError, type OverlayErrorCode, type OverlayErrorContext, type SpecProblem } from './spec/errors.js';
export { isSystemError, type SystemError } from './sys/errors.js';

// Reading mounts back.
export {
  findOverlay,
  findOverlaySync,
  inspect,
  inspectSync,
  listOverlays,
  listOverlaysSync,
  toDocker,
  type DockerGraphDriverData,
  type OverlayInfo,
} from './read/inspect.js';
export { parseMountInfo, parseOverlayOptions, readMountInfo, readMountInfoSync, type MountInfoEntry, type OverlayOptionsSeen } from './read/mountinfo.js';

// Layers on disk: lookups, markers, changes.
export {
  listMergedDir,
  listMergedDirSync,
  resolvePath,
  resolvePathSync,
  type EntryKind,
  type LayerDir,
  type LayerSource,
  type Listed,
  type ReadNamespace,
  type Resolution,
  type ResolveOptions,
  type XattrNamespace,
} from './layers/lookup.js';
export {
  applyMarkers,
  applyMarkersSync,
  clearOpaque,
  clearOpaqueSync,
  createWhiteout,
  createWhiteoutSync,
  createXattrWhiteout,
  createXattrWhiteoutSync,
  getMetacopy,
  getMetacopySync,
  getOpaque,
  getOpaqueSync,
  getOrigin,
  getOriginSync,
  getRedirect,
  getRedirectSync,
  isWhiteout,
  isWhiteoutSync,
  setOpaque,
  setOpaqueSync,
  setRedirect,
  setRedirectSync,
  whiteoutKind,
  whiteoutKindSync,
  type MarkerOp,
  type MarkerPathOptions,
  type MarkerWriteOptions,
  type Metacopy,
  type NamespaceOption,
  type Opaque,
  type Origin,
  type WhiteoutKind,
  type XattrWhiteoutOptions,
} from './layers/markers.js';
export { changes, changesSync, formatChange, type Change, type ChangeKind, type ChangesOptions } from './layers/changes.js';

// OCI layers: apply a layer tar onto a directory, export an upper as one; image layouts.
export { exportLayer, type ExportedLayer, type ExportOptions, type ExportResult } from './oci/export.js';
export { applyLayer, type AppliedLayer, type ApplyOptions, type ApplyProgress } from './oci/apply.js';
export type { IdMap, IdRange } from './oci/ids.js';
export { unpackImage, type UnpackedImage, type UnpackedLayer, type UnpackOptions } from './oci/unpack.js';
export {
  openImageSource,
  MAX_JSON_BYTES,
  type ImageReader,
  type ImageRef,
  type ImageSource,
  type ImageSourceKind,
  type PlatformSpec,
  type ResolvedImage,
  type ResolvedLayer,
} from './oci/image.js';
export { writeOciLayout, type WriteLayoutOptions } from './oci/image/write.js';

// The layer store: images, containers and volumes laid out as Docker's overlay2.
export { openStore, Store, type OpenStoreOptions } from './store/store.js';
export { defaultStoreRoot } from './store/layout.js';
export type { Recovery } from './store/recover.js';
export type { HistoryEntry, ImageSummary, ImportedImage, ImportOptions, ImportProgress, RemovedImage } from './store/images.js';
export type { CommitOptions, CommittedImage, ContainerSummary, CreateContainerOptions, MountedContainer } from './store/containers.js';
export type { ContainerMount } from './store/records.js';
export type { VolumeInfo } from './store/volumes.js';
export type { SavedImage, SaveOptions, StoredImage } from './store/save.js';
export type { ContainerUsage, DiskUsage, PruneResult, UsageRow, VolumeUsage } from './store/usage.js';

// Registries: pull and push over the OCI distribution API, login.
export { pull, type PullOptions, type PullResult } from './registry/pull.js';
export { push, type PushOptions, type PushProgress, type PushResult } from './registry/push.js';
export { login, logout, type LoginOptions } from './registry/login.js';
export { parseReference, formatReference, type ImageReference } from './registry/reference.js';
export { RegistryError, type RegistryErrorDetail } from './registry/errors.js';
export type { ClientOptions as RegistryOptions } from './registry/client.js';
export type { Credentials } from './registry/auth.js';

// containerd: the store served as a snapshotter (a proxy plugin); the Store's snapshot methods underneath.
export { startSnapshotter, checkHealth, type Snapshotter, type SnapshotterOptions } from './snapshotter/server.js';
export { SnapshotExistsError, type SnapshotInfo, type SnapshotKind, type SnapshotMount } from './store/snapshots.js';

// The raw syscalls and the kernel's constants.
export * as sys from './sys/index.js';
export * from './sys/constants.js';
export type { FdHandle, StatmountResult, StatxResult } from './sys/native-types.js';
export type { Step, StepFd, StepsResult } from './sys/steps.js';

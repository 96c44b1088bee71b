/** overlayfs: drive the Linux kernel's overlay filesystem from Node. */
export * as sys from './sys/index.js';
export * from './constants.js';
export { createSystemError, errnoInfo, isSystemError, type SystemError } from './errors.js';
export type { FdHandle, RawError, StatmountResult, StatxResult, Step, StepFd, StepsResult } from './native-types.js';
export {
  checkSpecShape,
  MAX_LAYERS,
  OverlaySpecError,
  validateSpec,
  type MountAttributes,
  type OverlayOptions,
  type OverlaySpec,
  type SpecProblem,
  type Strategy,
} from './spec.js';
export { probe, type Capabilities, type ModuleDefaults } from './probe.js';
export { formatPlan, formatStep, plan, type MountPlan, type PlannedStep } from './plan.js';
export {
  mountOverlay,
  mountOverlaySync,
  OverlayMount,
  type MountOverlayOptions,
  type OverlayMountError,
  type OverlayUnmountOptions,
  type OverlayUnmountResult,
} from './mount.js';
export { MountHandle, type UnmountOptions } from './mount-handle.js';
export { bindMount, bindMountSync, tmpfsMount, tmpfsMountSync, type BindOptions, type TmpfsOptions } from './volumes.js';
export { cleanWorkdir, hasStaleVolatile, overlaysUsing, type DirUser } from './workdir.js';
export {
  listOverlays,
  findOverlay,
  inspect,
  toDocker,
  type DockerGraphDriverData,
  type OverlayInfo,
} from './inspect.js';
export {
  parseMountInfo,
  parseMountInfoLine,
  parseOverlayOptions,
  readMountInfo,
  splitLegacyLowerdir,
  escapeLegacyPath,
  unescapeOctal,
  type MountInfoEntry,
  type OverlayOptionsSeen,
} from './mountinfo.js';
export {
  LayerStack,
  layersOf,
  resolvePath,
  type LayerSource,
  type EntryKind,
  type LayerDir,
  type Listed,
  type ReadNamespace,
  type Resolution,
  type ResolveOptions,
  type XattrNamespace,
} from './layers.js';
export {
  applyMarkers,
  applyMarkersSync,
  clearOpaque,
  createWhiteout,
  createXattrWhiteout,
  getMetacopy,
  getOpaque,
  getOrigin,
  getRedirect,
  isWhiteout,
  MarkerError,
  setOpaque,
  setRedirect,
  whiteoutKind,
  type MarkerOp,
  type Metacopy,
  type Opaque,
  type Origin,
  type WhiteoutKind,
} from './markers.js';
export { changes, changesSync, formatChange, type Change, type ChangeKind, type ChangesOptions } from './changes.js';

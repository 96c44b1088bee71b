/** overlayfs: drive the Linux kernel's overlay filesystem from Node. */
export * as sys from './sys/index.js';
export * from './constants.js';
export { createSystemError, errnoInfo, isSystemError, type SystemError } from './errors.js';
export type { FdHandle, RawError, StatmountResult, StatxResult, Step, StepFd, StepsResult } from './native-types.js';

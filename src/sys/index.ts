/** The raw syscall surface: one function per syscall mode, a Promise form and a …Sync form. */
export * from './fd.js';
export * from './mount-api.js';
export * from './mount-info.js';
export * from './mount-legacy.js';
export * from './node.js';
export * from './steps.js';
export * from './xattr.js';

// Types for scripts/native-stamp.mjs (imported by test/unit/prebuilds.test.ts).
export const STAMP_FILE: string;
export function nativeSources(root: string): string[];
export function nodeAddonApiVersion(root: string): string;
export function computeStamp(root: string): string;
export function stampDifferences(recorded: string, current: string): string[];

#!/usr/bin/env node
// Prints `N passed, N failed, N skipped` from the vitest results that `npm test` wrote, summed
// over every results file named (test-results.json when none is). A file that is missing or
// unreadable means a run that reported nothing: the line says which, and the exit status is 1.
import { readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['test-results.json'];
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const file of files) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    missing.push(file);
    continue;
  }
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
const note = missing.length > 0 ? ` (no test results in ${missing.join(', ')})` : '';
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped${note}`);
process.exit(missing.length > 0 ? 1 : 0);

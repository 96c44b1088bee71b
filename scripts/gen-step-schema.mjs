#!/usr/bin/env node
// npm run gen:schema: writes native/step_schema.h from the compiled step table
// (dist/sys/step-schema.js; the npm script runs tsc first).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderStepSchemaHeader } from './step-schema-header.mjs';

const schema = await import('../dist/sys/step-schema.js');
const out = fileURLToPath(new URL('../native/step_schema.h', import.meta.url));
writeFileSync(out, renderStepSchemaHeader(schema));
console.log(`wrote ${out}`);

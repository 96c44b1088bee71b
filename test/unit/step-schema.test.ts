/**
 * The step table is the one description of every op: native/step_schema.h is generated from it
 * and must match, and the table must fit the packed form the addon reads.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as schema from '../../src/sys/step-schema.js';
import { renderStepSchemaHeader } from '../../scripts/step-schema-header.mjs';

describe('the step table', () => {
  it('native/step_schema.h is what the table generates (run `npm run gen:schema` after changing it)', () => {
    expect(readFileSync('native/step_schema.h', 'utf8')).toBe(renderStepSchemaHeader(schema));
  });

  it('every op fits the slots of a packed step, and names what it opens or returns', () => {
    for (const op of schema.OP_NAMES) {
      const slots = schema.packSlots(op); // throws when an op has more fields of a class than slots
      expect(new Set(slots.map((s) => s.name)).size, op).toBe(slots.length);
      const o = schema.STEP_OPS[op] as schema.OpSchema;
      expect(o.makes === undefined || o.result === undefined, `${op}: an fd or a result, not both`).toBe(true);
    }
  });

  it('op codes are the table order (the header and the packer agree on them)', () => {
    expect(schema.OP_NAMES).toEqual(Object.keys(schema.STEP_OPS));
    expect(schema.NUMS_PER_STEP).toBe(schema.SLOTS.header + schema.SLOTS.fd + schema.SLOTS.num);
  });
});

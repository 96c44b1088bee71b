// Types of step-schema-header.mjs for the TypeScript test that checks the header.
export function renderStepSchemaHeader(schema: {
  STEP_OPS: Record<string, unknown>;
  OP_NAMES: readonly string[];
  SLOTS: Readonly<Record<string, number>>;
  NUMS_PER_STEP: number;
  packSlots(op: never): ReadonlyArray<{ name: string; kind: string; class: string; slot: number; optional: boolean }>;
}): string;

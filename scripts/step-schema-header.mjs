// Renders native/step_schema.h from the step table (src/sys/step-schema.ts): the op codes, what
// each slot of a packed step holds, and each field's slot by name. Used by
// scripts/gen-step-schema.mjs (npm run gen:schema) and by test/unit/step-schema.test.ts, which
// fails when the committed header differs from what the table says.

const FD_KIND = { fd: 'kFd', 'fd?': 'kFdOrCwd', fs: 'kFs', step: 'kStep' };
const NUM_KIND = { u32: 'kU32', 'u32?': 'kU32', u64: 'kU64', 'u64?': 'kU64', int: 'kInt', 'bool?': 'kBool' };
const STR_KIND = { str: 'kStr', 'str?': 'kOptStr' };
const RESULT = {
  none: 'kNone',
  statx: 'kStatx',
  buffer: 'kBuffer',
  names: 'kNames',
  messages: 'kMessages',
  number: 'kNumber',
  string: 'kString',
  statmount: 'kStatmount',
  entries: 'kEntries',
  ids: 'kIds',
  scan: 'kScan',
};

const pascal = (name) => name[0].toUpperCase() + name.slice(1);
const constant = (name) => `k${pascal(name)}`;
const q = (s) => (s === null ? 'nullptr' : JSON.stringify(s));

/**
 * @param {{ STEP_OPS: Record<string, any>, OP_NAMES: string[], SLOTS: Record<string, number>, NUMS_PER_STEP: number, packSlots: (op: string) => Array<{name: string, kind: string, class: string, slot: number, optional: boolean}> }} schema
 * @returns {string}
 */
export function renderStepSchemaHeader(schema) {
  const { STEP_OPS, OP_NAMES, SLOTS, NUMS_PER_STEP, packSlots } = schema;
  const lines = [];
  const w = (s = '') => lines.push(s);
  w('// Generated from src/sys/step-schema.ts by scripts/gen-step-schema.mjs (npm run gen:schema).');
  w('// Do not edit: test/unit/step-schema.test.ts fails when this differs from the table.');
  w('#pragma once');
  w();
  w('#include <cstdint>');
  w();
  w('namespace ovl::schema {');
  w();
  w(`constexpr int kHeaderNums = ${SLOTS.header};  // opcode, bits (1 keep, 2 recordError), okErrno`);
  w(`constexpr int kFdSlots = ${SLOTS.fd};`);
  w(`constexpr int kNumSlots = ${SLOTS.num};`);
  w(`constexpr int kStrSlots = ${SLOTS.str};`);
  w(`constexpr int kNumsPerStep = ${NUMS_PER_STEP};`);
  w('constexpr uint32_t kKeep = 1, kRecordError = 2;');
  w();
  w('enum class Op : uint32_t {');
  OP_NAMES.forEach((name, i) => w(`  ${constant(name)} = ${i},`));
  w('};');
  w(`constexpr uint32_t kOpCount = ${OP_NAMES.length};`);
  w();
  w('enum class FdKind : uint8_t { kNone, kFd, kFdOrCwd, kFs, kStep };');
  w('enum class NumKind : uint8_t { kNone, kU32, kU64, kInt, kBool };');
  w('enum class StrKind : uint8_t { kNone, kStr, kOptStr };');
  w('enum class Result : uint8_t { kNone, kStatx, kBuffer, kNames, kMessages, kNumber, kString, kStatmount, kEntries, kIds, kScan };');
  w();
  w('struct Field {');
  w('  const char* name;  // nullptr: slot unused');
  w('  uint8_t kind;      // FdKind, NumKind or StrKind by slot class');
  w('};');
  w();
  w('struct OpInfo {');
  w('  const char* name;');
  w('  const char* syscall;');
  w('  const char* makes;  // handle kind of the fd it opens, or nullptr');
  w('  Result result;');
  w('  Field fd[kFdSlots];');
  w('  Field num[kNumSlots];');
  w('  Field str[kStrSlots];');
  w('  const char* buf;  // name of the bytes field, or nullptr');
  w('};');
  w();
  w('inline constexpr OpInfo kOps[kOpCount] = {');
  for (const name of OP_NAMES) {
    const op = STEP_OPS[name];
    const slots = packSlots(name);
    const row = (cls, count, kinds, enumName) => {
      const cells = [];
      for (let i = 0; i < count; i++) {
        const f = slots.find((s) => s.class === cls && s.slot === i);
        cells.push(f ? `{${q(f.name)}, static_cast<uint8_t>(${enumName}::${kinds[f.kind]})}` : '{nullptr, 0}');
      }
      return `{${cells.join(', ')}}`;
    };
    const buf = slots.find((s) => s.class === 'buf');
    w(
      `    {${q(name)}, ${q(op.syscall)}, ${q(op.makes ?? null)}, Result::${RESULT[op.result ?? 'none']}, ` +
        `${row('fd', SLOTS.fd, FD_KIND, 'FdKind')}, ${row('num', SLOTS.num, NUM_KIND, 'NumKind')}, ` +
        `${row('str', SLOTS.str, STR_KIND, 'StrKind')}, ${q(buf ? buf.name : null)}},`,
    );
  }
  w('};');
  w();
  w('// Each field\'s slot within its class (fd, num, str; bytes have one slot).');
  for (const name of OP_NAMES) {
    const slots = packSlots(name);
    const members = slots.filter((s) => s.class !== 'buf').map((s) => `static constexpr int ${constant(s.name)} = ${s.slot};`);
    w(`struct ${pascal(name)} {${members.length ? ` ${members.join(' ')} ` : ''}};`);
  }
  w();
  w('}  // namespace ovl::schema');
  return lines.join('\n') + '\n';
}

/** Picking a container's id range from subordinate id grants (store/userns.ts), and mapping ids back for export (oci/ids.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { freeRange, subordinateRanges } from '../../src/store/userns.js';
import { mapId, OVERFLOW_ID, unmapId } from '../../src/oci/ids.js';

describe('subordinate ids', () => {
  it("reads the user's name:start:count lines, skipping others and malformed ones", () => {
    expect(subordinateRanges('containers:100000:65536\nme:1:2\n# x\ncontainers:bad:1\ncontainers:300000:10\n', 'containers')).toEqual([
      { start: 100000, count: 65536 },
      { start: 300000, count: 10 },
    ]);
  });

  it('property: a range picked lies in a grant, at a multiple of the size from its start, and overlaps no range in use', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ start: fc.integer({ min: 0, max: 1e6 }), count: fc.integer({ min: 1, max: 5000 }) }), { maxLength: 4 }),
        fc.array(fc.record({ inside: fc.constant(0), outside: fc.integer({ min: 0, max: 1.1e6 }), count: fc.integer({ min: 1, max: 3000 }) }), { maxLength: 6 }),
        fc.integer({ min: 1, max: 2000 }),
        (granted, used, size) => {
          const s = freeRange(granted, used, size);
          if (s === undefined) {
            // Every slot of every grant is taken.
            for (const g of granted) for (let x = g.start; x + size <= g.start + g.count; x += size) expect(used.some((u) => x < u.outside + u.count && u.outside < x + size)).toBe(true);
            return;
          }
          expect(granted.some((g) => s >= g.start && s + size <= g.start + g.count && (s - g.start) % size === 0)).toBe(true);
          expect(used.some((u) => s < u.outside + u.count && u.outside < s + size)).toBe(false);
        },
      ),
    );
  });
});

describe('ids mapped back', () => {
  it('property: unmapId undoes mapId; a host id no range covers becomes the overflow id', () => {
    const ranges = [
      { inside: 0, outside: 100000, count: 1000 },
      { inside: 1000, outside: 500000, count: 64536 },
    ];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), (id) => {
        expect(unmapId(ranges, mapId(ranges, id, 'uid', Buffer.from('f')))).toBe(id);
      }),
    );
    expect(unmapId(ranges, 0)).toBe(OVERFLOW_ID);
    expect(unmapId(ranges, 101000)).toBe(OVERFLOW_ID);
  });
});

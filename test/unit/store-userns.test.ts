/** Picking a container's id range from subordinate id grants (store/userns.ts), and mapping ids back for export (oci/ids.ts). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { freeRange, subordinateRanges } from '../../src/store/userns.js';
import { mapId, OVERFLOW_ID, unmapId, unmapXattr } from '../../src/oci/ids.js';

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

describe('xattrs mapped back', () => {
  const map = { uid: [{ inside: 0, outside: 100000, count: 65536 }], gid: [{ inside: 0, outside: 200000, count: 65536 }] };
  it("a POSIX ACL's user and group entries, and a v3 file capability's root id (v2 when it is the container's root)", () => {
    // version 2; USER_OBJ, USER 101000, GROUP_OBJ, GROUP 201000, MASK, OTHER
    const entry = (tag: number, perm: number, id: number) => {
      const b = Buffer.alloc(8);
      b.writeUInt16LE(tag, 0);
      b.writeUInt16LE(perm, 2);
      b.writeUInt32LE(id, 4);
      return b;
    };
    const version = Buffer.alloc(4);
    version.writeUInt32LE(2, 0);
    const acl = Buffer.concat([version, entry(0x01, 7, 0xffffffff), entry(0x02, 6, 101000), entry(0x04, 5, 0xffffffff), entry(0x08, 4, 201000), entry(0x10, 7, 0xffffffff), entry(0x20, 4, 0xffffffff)]);
    const back = unmapXattr('system.posix_acl_access', acl, map);
    expect(back.readUInt32LE(4 + 8 + 4)).toBe(1000);
    expect(back.readUInt32LE(4 + 24 + 4)).toBe(1000);
    expect(back.readUInt32LE(4 + 4)).toBe(0xffffffff); // USER_OBJ untouched
    expect(acl.readUInt32LE(4 + 8 + 4)).toBe(101000); // the input is not changed
    const v3 = Buffer.alloc(24);
    v3.writeUInt32LE(0x03000001, 0); // revision 3, effective
    v3.writeUInt32LE(0x2000, 4); // cap_net_raw
    v3.writeUInt32LE(100000, 20);
    const v2 = unmapXattr('security.capability', v3, map);
    expect(v2.length).toBe(20);
    expect(v2.readUInt32LE(0)).toBe(0x02000001);
    expect(v2.readUInt32LE(4)).toBe(0x2000);
    v3.writeUInt32LE(100005, 20);
    expect(unmapXattr('security.capability', v3, map).readUInt32LE(20)).toBe(5);
    expect(unmapXattr('user.other', acl, map)).toBe(acl);
  });
});

/**
 * Docker's formats for the store's commands (src/cli/docker-format.ts): go-units' sizes and
 * durations, docker's tabwriter tables, ids, the Ellipsis, df's RECLAIMABLE.
 */
import { describe, expect, it } from 'vitest';
import { dockerSize, dockerTable, ellipsis, humanDuration, reclaimable, shortId, since } from '../../src/cli/docker-format.js';

describe('dockerSize: go-units HumanSizeWithPrecision (decimal units, no space)', () => {
  it.each([
    [0, 3, '0B'],
    [212, 3, '212B'],
    [999, 3, '999B'],
    [1000, 3, '1kB'],
    [1234, 4, '1.234kB'],
    [4_261_000, 3, '4.26MB'],
    [7_800_000, 3, '7.8MB'],
    [7_812_345, 3, '7.81MB'],
    [133_400_000, 3, '133MB'],
    [16_430_000, 4, '16.43MB'],
    [1_500_000_000, 3, '1.5GB'],
    // Where go-units prints "1e+03kB", the next unit.
    [999_900, 3, '1MB'],
  ])('%d at %d digits: %s', (n, digits, text) => {
    expect(dockerSize(n, digits)).toBe(text);
  });
});

describe('humanDuration: go-units HumanDuration', () => {
  const s = 1000;
  const h = 3600 * s;
  it.each([
    [500, 'Less than a second'],
    [1 * s, '1 second'],
    [59 * s, '59 seconds'],
    [60 * s, 'About a minute'],
    [5 * 60 * s, '5 minutes'],
    [h + 29 * 60 * s, 'About an hour'],
    [h + 31 * 60 * s, '2 hours'],
    [47 * h, '47 hours'],
    [48 * h, '2 days'],
    [15 * 24 * h, '2 weeks'],
    [61 * 24 * h, '2 months'],
    [800 * 24 * h, '2 years'],
  ])('%d ms: %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it('since(): "… ago", N/A without a time', () => {
    const now = Date.parse('2024-01-01T12:00:00Z');
    expect(since('2024-01-01T10:00:00Z', now)).toBe('2 hours ago');
    expect(since(undefined, now)).toBe('N/A');
    expect(since('not a date', now)).toBe('N/A');
  });
});

describe('tables and ids', () => {
  it("lays a table out as docker's tabwriter (minwidth 10, padding 3; the last column not padded)", () => {
    expect(
      dockerTable([
        ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
        ['Images', '5', '2', '16.43MB', '11.63MB (70%)'],
        ['Local Volumes', '2', '1', '36B', '0B (0%)'],
      ]),
    ).toEqual([
      'TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE',
      'Images          5         2         16.43MB   11.63MB (70%)',
      'Local Volumes   2         1         36B       0B (0%)',
    ]);
  });

  it('12-character ids, the Ellipsis, RECLAIMABLE with its truncated percentage', () => {
    expect(shortId(`sha256:${'ab'.repeat(32)}`)).toBe('abababababab');
    expect(shortId('0123456789abcdef')).toBe('0123456789ab');
    expect(ellipsis('short', 45)).toBe('short');
    expect(ellipsis('x'.repeat(50), 45)).toBe(`${'x'.repeat(44)}…`);
    expect(reclaimable(1_163_000, 1_643_000)).toBe('1.163MB (70%)');
    expect(reclaimable(0, 0)).toBe('0B');
    expect(reclaimable(212, 212)).toBe('212B (100%)');
  });
});

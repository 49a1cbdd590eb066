import * as path from 'node:path';
import { loadPriceTable, parsePriceTable } from './price-table';

describe('price table', () => {
  it('prices graduated tiers exactly in decimals', () => {
    const t = parsePriceTable({ currency: 'CNY', operations: { '*': [{ upTo: 3, unitPrice: '0.1' }, { upTo: 5, unitPrice: '0.07' }, { upTo: null, unitPrice: '0.01' }] } });
    expect(t.cost('face_detect', 1, 3)?.toFixed()).toBe('0.3');
    expect(t.cost('face_detect', 3, 4)?.toFixed()).toBe('0.25'); // 0.1 + 2 × 0.07 + 0.01
    expect(t.cost('face_detect', 100, 0)?.toFixed()).toBe('0');
  });

  it('lists every problem of a bad table', () => {
    expect(() => parsePriceTable({ currency: 'yuan', operations: { face_detekt: [], face_detect: [{ upTo: null, unitPrice: '1' }, { upTo: 5, unitPrice: '-1' }] } })).toThrow(
      /currency[\s\S]*face_detekt: unknown operation[\s\S]*may only be open \(null\) on the last tier[\s\S]*unitPrice must be a non-negative decimal/,
    );
  });

  it('finding 11: refuses a finite last tier instead of pricing the calls past it at 0', () => {
    expect(() => parsePriceTable({ currency: 'CNY', operations: { face_detect: [{ upTo: 100, unitPrice: '0.01' }, { upTo: 1000, unitPrice: '0.005' }] } })).toThrow(
      /operations\.face_detect\[1\]\.upTo must be null on the last tier[\s\S]*beyond 1000 would otherwise have no price/,
    );
  });

  it('loads the shipped example, which says it is one', () => {
    const t = loadPriceTable(path.join(__dirname, '../../config/prices.example.json'));
    expect(t.example).toBe(true);
    expect(t.covers('face_compare')).toBe(true);
    expect(t.cost('live_detect', 1, 1)?.toFixed()).toBe('0.0123');
  });
});

import { Money, allocate, amount, canonical, formatMoney, parseJsonExact, sum, toInt } from './money';

describe('parseJsonExact', () => {
  it('keeps every number as its source text, inside objects and arrays', () => {
    expect(parseJsonExact('{"a":0.1,"b":[1,-2.50,3e2],"c":"0.3","d":true,"e":null,"f":{"g":12345678901234567890.12345678}}')).toEqual({
      a: '0.1',
      b: ['1', '-2.50', '3e2'],
      c: '0.3',
      d: true,
      e: null,
      f: { g: '12345678901234567890.12345678' },
    });
  });

  it('leaves digits inside strings alone, escaped quotes included', () => {
    expect(parseJsonExact('{"s":"a \\"1.5\\" b","t":"x\\\\","n":2}')).toEqual({ s: 'a "1.5" b', t: 'x\\', n: '2' });
  });

  it('still rejects what is not JSON', () => {
    expect(() => parseJsonExact('{"a":1-2}')).toThrow(SyntaxError);
    expect(() => parseJsonExact('{"a":01}')).toThrow(SyntaxError);
    expect(() => parseJsonExact('{"a":}')).toThrow(SyntaxError);
  });
});

describe('amount', () => {
  it('sums "0.1" and "0.2" as strings and as numbers to exactly 0.30', () => {
    const asStrings = sum(['0.1', '0.2']);
    const asNumbers = sum([0.1, 0.2]);
    const parsed = parseJsonExact('[0.1, 0.2]') as string[];
    expect(formatMoney(asStrings)).toBe('0.30');
    expect(formatMoney(asNumbers)).toBe('0.30');
    expect(formatMoney(sum(parsed))).toBe('0.30');
    expect(asNumbers.eq('0.3')).toBe(true);
    expect(0.1 + 0.2).not.toBe(0.3); // what a float would have given
  });

  it('applies measure_id: 1 yuan, 2 jiao (÷10), 3 fen (÷100)', () => {
    expect(amount('123', 1)).toBe('123');
    expect(amount('123', 2)).toBe('12.3');
    expect(amount('123', 3)).toBe('1.23');
    expect(amount(5, 3)).toBe('0.05');
    expect(amount('0.1', 3)).toBe('0.001');
    expect(amount('7.5')).toBe('7.5');
    expect(() => amount('1', 4)).toThrow(/measure_id/);
  });

  it('sums fen amounts from JSON numbers and strings exactly', () => {
    const fen = parseJsonExact('[{"a":10,"m":3},{"a":"20","m":3},{"a":0.5,"m":3}]') as { a: string; m: string }[];
    const total = sum(fen.map((r) => amount(r.a, r.m)));
    expect(canonical(total)).toBe('0.305');
    expect(formatMoney(total)).toBe('0.305');
  });

  it('treats absent amounts as null and refuses text that is not a decimal', () => {
    expect(amount(undefined)).toBeNull();
    expect(amount(null)).toBeNull();
    expect(amount('')).toBeNull();
    expect(() => amount('1,5')).toThrow(/not a decimal/);
    expect(() => amount({})).toThrow(/expected a number/);
  });
});

describe('formatMoney and toInt', () => {
  it('shows at least two decimals and never loses any', () => {
    expect(formatMoney('1')).toBe('1.00');
    expect(formatMoney('0.1')).toBe('0.10');
    expect(formatMoney('0.12345678')).toBe('0.12345678');
    expect(formatMoney('-0')).toBe('0.00');
    expect(formatMoney(null)).toBeNull();
  });

  it('reads counts from strings or numbers', () => {
    expect(toInt('1000')).toBe(1000);
    expect(toInt(3)).toBe(3);
    expect(toInt(undefined)).toBeUndefined();
    expect(() => toInt('1.5')).toThrow();
  });
});

describe('allocate', () => {
  const m = (s: string) => new Money(s);

  it('splits to the cent by largest remainder and always adds up to the total', () => {
    const { parts } = allocate(m('10.00'), [
      ['a', m('1')],
      ['b', m('1')],
      ['c', m('1')],
    ]);
    expect([...parts.values()].map((p) => p.toFixed(2))).toEqual(['3.34', '3.33', '3.33']);
  });

  it('gives the odd cent to the largest remainder, not the first key', () => {
    const { parts } = allocate(m('1.00'), [
      ['a', m('0.333')],
      ['b', m('0.667')],
    ]);
    expect(parts.get('a')?.toFixed(2)).toBe('0.33');
    expect(parts.get('b')?.toFixed(2)).toBe('0.67');
  });

  it('adds up exactly for many random splits', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const total = m((Math.floor(rnd() * 1_000_000) / 100).toFixed(2));
      const weights = Array.from({ length: 1 + Math.floor(rnd() * 7) }, (_, i) => [i, m(String(Math.floor(rnd() * 5000)))] as const);
      if (weights.every(([, w]) => w.isZero())) continue;
      const { parts } = allocate(total, weights);
      const s = [...parts.values()].reduce((a, b) => a.plus(b), m('0'));
      expect(s.eq(total)).toBe(true);
      for (const p of parts.values()) expect(p.times(100).isInteger()).toBe(true);
    }
  });

  it('returns everything unallocated when no weight is left', () => {
    const { parts, unallocated } = allocate(m('5.00'), [['a', m('0')]]);
    expect(parts.get('a')?.isZero()).toBe(true);
    expect(unallocated.toFixed(2)).toBe('5.00');
  });
});

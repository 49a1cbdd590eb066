import { FaultInjector, validateFaults } from './faults';
import { createRandom } from './random';
import { EmulatorInputError } from './validation';

const now = () => new Date('2025-06-01T00:00:00Z');

describe('FaultInjector', () => {
  it('injects each code at its rate, operation entries stacked over *', () => {
    const f = new FaultInjector({ errors: { face_detect: { 'FRS.0018': 0.2 }, '*': { 'FRS.0033': 0.1 } } }, createRandom(3), now);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) {
      const e = f.error('face_detect');
      if (e) counts[`${e.code}/${e.status}`] = (counts[`${e.code}/${e.status}`] ?? 0) + 1;
    }
    expect(Object.keys(counts).sort()).toEqual(['FRS.0018/500', 'FRS.0033/429']);
    expect(counts['FRS.0018/500'] / 20_000).toBeCloseTo(0.2, 1);
    expect(counts['FRS.0033/429'] / 20_000).toBeCloseTo(0.1, 1);
    expect(f.error('face_set_list')?.code ?? 'none').toMatch(/^(FRS\.0033|none)$/);
  });

  it('is deterministic for a seed', () => {
    const draw = () => {
      const f = new FaultInjector({ resets: 0.5, stalls: { '*': { fraction: 0.5, seconds: 2 } } }, createRandom(11), now);
      return Array.from({ length: 50 }, () => [f.reset('face_detect'), f.stallSeconds('face_search')]);
    };
    expect(draw()).toEqual(draw());
  });

  it('takes an operation stall over the * stall, and honours the time window', () => {
    const f = new FaultInjector({ stalls: { '*': { fraction: 1, seconds: 5 }, face_detect: { fraction: 1, seconds: 0.5 } } }, createRandom(1), now);
    expect(f.stallSeconds('face_detect')).toBe(0.5);
    expect(f.stallSeconds('face_compare')).toBe(5);
    f.set({ window: { from: '2025-06-01T00:00:01Z' } });
    expect(f.stallSeconds('face_compare')).toBe(0);
    f.set({ window: { from: '2025-05-31T00:00:00Z', until: '2025-06-02T00:00:00Z' } });
    expect(f.stallSeconds('face_compare')).toBe(5);
  });

  it('replaces only the keys given', () => {
    const f = new FaultInjector({ errors: { '*': { 'FRS.0018': 1 } }, idleCloseSeconds: 7 }, createRandom(1), now);
    f.set({ resets: { face_add: 0.5 } });
    expect(f.get()).toEqual({ errors: { '*': { 'FRS.0018': 1 } }, stalls: {}, resets: { face_add: 0.5 }, idleCloseSeconds: 7, window: null });
  });

  it('lists every problem of a bad setting', () => {
    let problems: readonly string[] = [];
    try {
      validateFaults({ errors: { face_detect: { 'FRS.9999': 0.5, 'FRS.0018': 0.7, 'FRS.0033': 0.6 } }, stalls: { nope: { fraction: 1, seconds: 1 } }, bogus: 1 });
    } catch (e) {
      problems = (e as EmulatorInputError).problems;
    }
    expect(problems).toEqual([
      'faults.bogus is not a setting: expected one of errors, stalls, resets, idleCloseSeconds, window',
      'faults.errors.face_detect.FRS.9999: not in the error catalogue; give {"rate": r, "status": s} to inject it anyway',
      'faults.errors.face_detect: rates add up to 1.3, more than 1',
      expect.stringMatching(/^faults\.stalls\.nope: expected an operation \(face_detect, .*\) or \*$/),
    ]);
    expect(validateFaults({ errors: { '*': { 'FRS.9999': { rate: 1, status: 503 } } } })).toEqual({ errors: { '*': { 'FRS.9999': { rate: 1, status: 503 } } } });
  });
});

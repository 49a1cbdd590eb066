import { LatencySampler } from './latency';
import { createRandom } from './random';

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

describe('LatencySampler', () => {
  it('draws a lognormal that matches the configured median and p99', () => {
    const s = new LatencySampler({ latencyScale: 1 }, createRandom(1));
    const draws = Array.from({ length: 40_000 }, () => s.sampleMs('face_detect')).sort((a, b) => a - b);
    expect(quantile(draws, 0.5)).toBeGreaterThan(76);
    expect(quantile(draws, 0.5)).toBeLessThan(84);
    expect(quantile(draws, 0.99)).toBeGreaterThan(270);
    expect(quantile(draws, 0.99)).toBeLessThan(330);
    expect(draws[draws.length - 1]).toBeLessThanOrEqual(900); // capped at 3 × p99
  });

  it('scales every draw, and 0 means no latency', () => {
    const a = new LatencySampler({ latencyScale: 1 }, createRandom(5));
    const b = new LatencySampler({ latencyScale: 0.5 }, createRandom(5));
    expect(b.sampleMs('live_detect')).toBeCloseTo(a.sampleMs('live_detect') / 2, 9);
    b.set({ latencyScale: 0 });
    expect(b.sampleMs('live_detect')).toBe(0);
  });

  it('keeps the other operations when one model changes, and rejects p99 below the median', () => {
    const s = new LatencySampler(undefined, createRandom(1));
    const after = s.set({ operations: { face_detect: { medianMs: 10, p99Ms: 10 } } });
    expect(after.operations.face_detect).toEqual({ medianMs: 10, p99Ms: 10 });
    expect(after.operations.live_detect).toEqual({ medianMs: 1500, p99Ms: 5000 });
    expect(s.sampleMs('face_detect')).toBe(10);
    expect(() => s.set({ operations: { face_detect: { medianMs: 10, p99Ms: 5 } } })).toThrow('p99Ms (5) is below medianMs (10)');
    expect(() => s.set({ latencyScale: -1 })).toThrow('latency.latencyScale must be a number from 0 to 100');
  });
});

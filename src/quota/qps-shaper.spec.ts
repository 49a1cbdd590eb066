import { QpsShaper, REFUSED } from './qps-shaper';

/** FRS's own rule (as the emulator applies it): at most `limit` calls in any (t - 1000, t]. */
function frsAccepts(times: number[], limit: number): boolean {
  const sorted = [...times].sort((a, b) => a - b);
  for (let i = limit; i < sorted.length; i++) if (sorted[i] - sorted[i - limit] <= 1000) return false;
  return true;
}

describe('QpsShaper', () => {
  it('lets the first `quota` calls of a burst go at once, queues the next window and refuses the rest', () => {
    let now = 5_000;
    const shaper = new QpsShaper(1050, 1050, () => now);
    const waits = Array.from({ length: 30 }, () => shaper.reserve('face_detect', 10));
    expect(waits.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(waits.slice(10, 20)).toEqual(Array(10).fill(1050));
    expect(waits.slice(20)).toEqual(Array(10).fill(REFUSED));
    // Slots handed out never put 11 calls into any FRS second, even with 49 ms of jitter.
    const sent = [...Array(10).fill(now), ...Array(10).fill(now + 1050)];
    expect(frsAccepts(sent.map((t, i) => t + (i < 10 ? 49 : 0)), 10)).toBe(true);
    now += 1050;
    expect(shaper.reserve('face_detect', 10)).toBe(1050);
  });

  it('keeps a steady rate under the quota untouched and never exceeds it over a long random run', () => {
    let now = 0;
    const shaper = new QpsShaper(1050, 2000, () => now);
    for (let i = 0; i < 100; i++) {
      expect(shaper.reserve('face_compare', 10)).toBe(0);
      now += 125; // 8 per second
    }
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const sent: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      now += rand() * 120;
      const w = shaper.reserve('face_search', 10);
      if (w !== REFUSED) sent.push(now + w);
    }
    expect(sent.length).toBeGreaterThan(1_000);
    expect(frsAccepts(sent, 10)).toBe(true);
  });

  it('keeps operations apart and follows a quota change without losing the recent slots', () => {
    const now = 0;
    const shaper = new QpsShaper(1050, 0, () => now);
    expect(shaper.reserve('live_detect', 1)).toBe(0);
    expect(shaper.reserve('live_detect', 1)).toBe(REFUSED);
    expect(shaper.reserve('face_detect', 10)).toBe(0);
    // A QPS package of 3 starts: one slot of the window is already taken.
    expect(shaper.reserve('live_detect', 3)).toBe(0);
    expect(shaper.reserve('live_detect', 3)).toBe(0);
    expect(shaper.reserve('live_detect', 3)).toBe(REFUSED);
    // Back to 1: the most recent slot still counts.
    expect(shaper.reserve('live_detect', 1)).toBe(REFUSED);
  });
});

import { CallPackageDef, PackageBalance } from './engine';
import { forecastExhaustion } from './forecast';

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

function balance(def: Partial<CallPackageDef> & { id: string }, remaining: number): PackageBalance {
  return {
    def: { operations: ['face_detect'], totalCalls: remaining, usedCalls: 0, startsAt: T0, expiresAt: T0 + 365 * DAY, registeredAt: T0, ...def },
    drawn: 0,
    remaining,
    before: 0,
    attributedBefore: 0,
  };
}

describe('forecastExhaustion', () => {
  it('projects remaining / burn rate', () => {
    const f = forecastExhaustion([balance({ id: 'a' }, 7000)], new Map([['face_detect', 1000 / DAY]]), T0 + 3 * DAY);
    expect(f.get('a')).toEqual({ exhaustsAt: T0 + 10 * DAY, leftAtExpiry: 0 });
  });

  it('moves the demand to the next package once the first runs out, and to none after expiry', () => {
    const now = T0 + DAY;
    const f = forecastExhaustion(
      [balance({ id: 'first', expiresAt: T0 + 30 * DAY }, 2000), balance({ id: 'second', expiresAt: T0 + 60 * DAY }, 5000)],
      new Map([['face_detect', 1000 / DAY]]),
      now,
    );
    expect(f.get('first')?.exhaustsAt).toBe(now + 2 * DAY);
    expect(f.get('second')?.exhaustsAt).toBe(now + 7 * DAY);
  });

  it('says a package expires with calls left when it is drawn too slowly, and gives no date without demand', () => {
    const now = T0;
    const f = forecastExhaustion(
      [balance({ id: 'slow', expiresAt: T0 + 10 * DAY }, 5000), balance({ id: 'idle', operations: ['face_compare'] }, 100)],
      new Map([['face_detect', 100 / DAY]]),
      now,
    );
    expect(f.get('slow')).toEqual({ exhaustsAt: null, leftAtExpiry: 4000 });
    expect(f.get('idle')).toEqual({ exhaustsAt: null, leftAtExpiry: 100 });
  });

  it('starts drawing a package registered for later only from its start', () => {
    const f = forecastExhaustion([balance({ id: 'later', startsAt: T0 + 5 * DAY }, 1000)], new Map([['face_detect', 500 / DAY]]), T0);
    expect(f.get('later')?.exhaustsAt).toBe(T0 + 7 * DAY);
  });
});

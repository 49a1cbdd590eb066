import { ManualClock } from '../common/clock';
import { StoredMonthState, SyncPolicy, dueSyncs, localDate, monthStatusAt } from './sync-plan';

const policy: SyncPolicy = { timeZone: 'Asia/Shanghai', finalDay: 4, finalHour: 10, finalUntilDay: 7 };

/** Local Beijing time → epoch ms. */
const bj = (local: string) => Date.parse(`${local}+08:00`);

function plan(clock: ManualClock, stored: Record<string, StoredMonthState> = {}) {
  return dueSyncs(clock.now(), policy, new Map(Object.entries(stored))).map((p) => `${p.month}:${p.status}`);
}

describe('monthStatusAt', () => {
  it('is final from 10:00 on the 4th of the next month, Beijing time', () => {
    expect(monthStatusAt('2025-01', bj('2025-01-31T23:59:59'), policy)).toBe('provisional');
    expect(monthStatusAt('2025-01', bj('2025-02-04T09:59:59'), policy)).toBe('provisional');
    expect(monthStatusAt('2025-01', bj('2025-02-04T10:00:00'), policy)).toBe('final');
    expect(monthStatusAt('2025-01', bj('2025-02-05T00:00:00'), policy)).toBe('final');
    expect(monthStatusAt('2025-01', bj('2025-07-01T00:00:00'), policy)).toBe('final');
    expect(monthStatusAt('2024-12', bj('2025-01-04T10:00:00'), policy)).toBe('final');
  });

  it('follows the billing zone, not UTC: 02:00 UTC on the 4th is 10:00 in Beijing', () => {
    expect(monthStatusAt('2025-01', Date.parse('2025-02-04T01:59:59Z'), policy)).toBe('provisional');
    expect(monthStatusAt('2025-01', Date.parse('2025-02-04T02:00:00Z'), policy)).toBe('final');
  });
});

describe('dueSyncs', () => {
  it('pulls the current and previous month daily as provisional before the 4th', () => {
    const clock = new ManualClock(bj('2025-02-02T03:00:00'), { frozen: true });
    expect(plan(clock)).toEqual(['2025-02:provisional', '2025-01:provisional']);
    const pulled = clock.now();
    const stored = { '2025-02': { status: 'provisional' as const, fetchedAt: pulled }, '2025-01': { status: 'provisional' as const, fetchedAt: pulled } };
    clock.advance(6 * 3600_000);
    expect(plan(clock, stored)).toEqual([]);
    clock.set(bj('2025-02-03T00:00:01'));
    expect(plan(clock, stored)).toEqual(['2025-02:provisional', '2025-01:provisional']);
  });

  it('pulls the previous month as final at 10:00 on the 4th even if it was pulled that morning', () => {
    const clock = new ManualClock(bj('2025-02-04T09:59:00'), { frozen: true });
    const morning = { '2025-02': { status: 'provisional' as const, fetchedAt: bj('2025-02-04T01:00:00') }, '2025-01': { status: 'provisional' as const, fetchedAt: bj('2025-02-04T01:00:00') } };
    expect(plan(clock, morning)).toEqual([]);
    clock.set(bj('2025-02-04T10:00:00'));
    expect(plan(clock, morning)).toEqual(['2025-01:final']);
  });

  it('re-pulls the final month daily through the 7th, then stops', () => {
    const clock = new ManualClock(bj('2025-02-05T08:00:00'), { frozen: true });
    const stored = (day: string) => ({
      '2025-02': { status: 'provisional' as const, fetchedAt: bj(`${day}T01:00:00`) },
      '2025-01': { status: 'final' as const, fetchedAt: bj('2025-02-04T11:00:00') },
    });
    expect(plan(clock, stored('2025-02-05'))).toEqual(['2025-01:final']);
    clock.set(bj('2025-02-07T23:00:00'));
    expect(plan(clock, stored('2025-02-07'))).toEqual(['2025-01:final']);
    clock.set(bj('2025-02-08T00:30:00'));
    expect(plan(clock, stored('2025-02-08'))).toEqual([]);
  });

  it('catches up a previous month that never became final, and older provisional months', () => {
    const clock = new ManualClock(bj('2025-03-20T12:00:00'), { frozen: true });
    const stored = {
      '2025-03': { status: 'provisional' as const, fetchedAt: bj('2025-03-20T01:00:00') },
      '2025-02': { status: 'provisional' as const, fetchedAt: bj('2025-03-01T01:00:00') },
      '2025-01': { status: 'provisional' as const, fetchedAt: bj('2025-01-30T01:00:00') },
      '2024-12': { status: 'final' as const, fetchedAt: bj('2025-01-05T01:00:00') },
    };
    expect(plan(clock, stored)).toEqual(['2025-02:final', '2025-01:final']);
  });

  it('crosses the year boundary', () => {
    const clock = new ManualClock(bj('2026-01-04T10:30:00'), { frozen: true });
    expect(plan(clock)).toEqual(['2026-01:provisional', '2025-12:final']);
  });

  it('honours other policies (final on the 3rd at 00:00, corrections through the 10th)', () => {
    const p: SyncPolicy = { timeZone: 'UTC', finalDay: 3, finalHour: 0, finalUntilDay: 10 };
    expect(monthStatusAt('2025-05', Date.parse('2025-06-02T23:59:59Z'), p)).toBe('provisional');
    expect(monthStatusAt('2025-05', Date.parse('2025-06-03T00:00:00Z'), p)).toBe('final');
    const stored = new Map([['2025-05', { status: 'final' as const, fetchedAt: Date.parse('2025-06-09T01:00:00Z') }]]);
    expect(dueSyncs(Date.parse('2025-06-10T05:00:00Z'), p, stored).map((x) => x.month)).toEqual(['2025-06', '2025-05']);
    expect(dueSyncs(Date.parse('2025-06-11T05:00:00Z'), p, stored).map((x) => x.month)).toEqual(['2025-06']);
  });

  it('localDate is the date in the zone', () => {
    expect(localDate(Date.parse('2025-01-31T16:00:00Z'), 'Asia/Shanghai')).toBe('2025-02-01');
    expect(localDate(Date.parse('2025-01-31T15:59:59Z'), 'Asia/Shanghai')).toBe('2025-01-31');
  });
});

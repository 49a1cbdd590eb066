import { billingMonthOf, monthRange, previousMonth, nextMonth } from './billing-month';

describe('billing month', () => {
  it('cuts months at midnight Beijing time, not UTC', () => {
    expect(billingMonthOf(Date.parse('2026-11-30T23:59:59+08:00'), 'Asia/Shanghai')).toBe('2026-11');
    expect(billingMonthOf(Date.parse('2026-12-01T00:00:00+08:00'), 'Asia/Shanghai')).toBe('2026-12');
    // The same instant is still November in UTC.
    expect(billingMonthOf(Date.parse('2026-12-01T00:00:00+08:00'), 'UTC')).toBe('2026-11');
  });

  it('gives month ranges as instants', () => {
    expect(monthRange('2026-12', 'Asia/Shanghai')).toEqual({
      start: Date.parse('2026-11-30T16:00:00Z'),
      end: Date.parse('2026-12-31T16:00:00Z'),
    });
    expect(monthRange('2026-03', 'Europe/Berlin').end).toBe(Date.parse('2026-03-31T22:00:00Z'));
    expect(() => monthRange('2026-13', 'UTC')).toThrow(/not a month/);
  });

  it('steps months across years', () => {
    expect(previousMonth('2026-01')).toBe('2025-12');
    expect(nextMonth('2026-12')).toBe('2027-01');
  });
});

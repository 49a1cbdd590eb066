// The advisor against a hand calculation (the oracle is the comment, not advise()).
//
// face_detect in a month: 50,000 valid calls, 2,000 free calls, 0.004 per paid call.
// Per-second peaks: 20,000 s at 2 calls, 3,000 s at 8, 500 s at 15, 100 s at 30 → 74,500 calls seen.
// Without a package: (50,000 − 2,000) × 0.004 = 192.00.
// QPS 10 for 120.00: covered 2×20,000 + 8×3,000 + 10×500 + 10×100 = 70,000 of 74,500 (0.9396);
//   overflow 50,000 × 4,500 / 74,500 = 3,020.1 → 3,020; minus 2,000 free → 1,020 × 0.004 = 4.08;
//   total 124.08, saving 67.92.
// QPS 20 for 150.00: covered 73,500 (0.9866); overflow 50,000 × 1,000 / 74,500 = 671 (all free);
//   total 150.00, saving 42.00.  → advise QPS 10 (two packages would not add up to 20).
// 20,000 calls for 60.00: (50,000 − 20,000 − 2,000) × 0.004 = 112.00 → 172.00, saving 20.00;
//   break-even 60 / 0.004 = 15,000 paid calls.
// 50,000 calls for 140.00: nothing left to pay → 140.00, saving 52.00; break-even 35,000.
//   → advise the 50,000-call package.

import Decimal from 'decimal.js';
import { advise, parseOffers } from './advisor';

const offers = parseOffers(
  { currency: 'CNY', qps_packages: [{ qps: 20, price: '150.00' }, { qps: 10, price: '120.00' }], call_packages: [{ calls: 50000, price: '140.00' }, { calls: 20000, price: '60.00' }] },
  'test offers',
);

describe('package advisor', () => {
  test('recommends the sizes and savings of the hand calculation', () => {
    const a = advise(
      {
        operation: 'face_detect',
        monthCalls: 50_000,
        freeCalls: 2_000,
        peaks: new Map([[2, 20_000], [8, 3_000], [15, 500], [30, 100]]),
        payPerUse: (n) => new Decimal('0.004').times(n),
      },
      offers,
    );
    expect(a).toEqual({
      operation: 'face_detect',
      month_calls: 50_000,
      free_calls: 2_000,
      peak_qps: 30,
      seconds_with_calls: 23_600,
      pay_per_use_cost: '192.00',
      qps_packages: [
        { qps: 10, price: '120.00', covered_share: '0.9396', overflow_calls: 3_020, overflow_cost: '4.08', total_cost: '124.08', saving: '67.92' },
        { qps: 20, price: '150.00', covered_share: '0.9866', overflow_calls: 671, overflow_cost: '0.00', total_cost: '150.00', saving: '42.00' },
      ],
      recommended_qps_package: 10,
      call_packages: [
        { calls: 20_000, price: '60.00', total_cost: '172.00', saving: '20.00', break_even_paid_calls: 15_000 },
        { calls: 50_000, price: '140.00', total_cost: '140.00', saving: '52.00', break_even_paid_calls: 35_000 },
      ],
      recommended_call_package: 50_000,
    });
  });

  test('advises nothing when no offer beats pay-per-use, and refuses a bad offers file', () => {
    const a = advise({ operation: 'face_compare', monthCalls: 1_000, freeCalls: 2_000, peaks: new Map([[1, 1_000]]), payPerUse: (n) => new Decimal('0.004').times(n) }, offers);
    expect(a.pay_per_use_cost).toBe('0.00');
    expect([a.recommended_qps_package, a.recommended_call_package]).toEqual([null, null]);
    expect(() => parseOffers({ currency: 'CNY', qps_packages: [{ qps: 0, price: 9 }] }, 'offers.json')).toThrow(
      'offers.json: qps_packages[0].qps must be a whole number > 0; qps_packages[0].price must be a decimal string such as "99.00"',
    );
  });
});

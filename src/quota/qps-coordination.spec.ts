import { splitShare } from './qps-coordination';
import { loadConfig, ConfigError } from '../config/config';

const ENV = { FRS_ENDPOINT: 'http://127.0.0.1:1', HUAWEICLOUD_SDK_AK: 'ak', HUAWEICLOUD_SDK_SK: 'sk', FRS_METER_SECRET_KEY: '0123456789abcdef' };

describe('splitShare', () => {
  it('gives the first quota mod n replicas one more, so the shares add up to the quota', () => {
    // 10 over 3: 4 + 3 + 3; 10 over 4: 3 + 3 + 2 + 2; 1 over 2: 1 + 0.
    expect([0, 1, 2].map((r) => splitShare(10, r, 3))).toEqual([4, 3, 3]);
    expect([0, 1, 2, 3].map((r) => splitShare(10, r, 4))).toEqual([3, 3, 2, 2]);
    expect([0, 1].map((r) => splitShare(1, r, 2))).toEqual([1, 0]);
    expect(splitShare(10, 0, 1)).toBe(10);
  });
});

describe('QPS coordination config', () => {
  it('defaults to postgres with DATABASE_URL and to local with the embedded database', () => {
    expect(loadConfig({ ...ENV, DATABASE_URL: 'postgres://x@127.0.0.1/db' }).qps.coordination).toBe('postgres');
    expect(loadConfig(ENV).qps.coordination).toBe('local');
    expect(loadConfig(ENV).qps.overflow).toBe('wait');
  });

  it('stops the start naming the variable: redis without REDIS_URL, a bad mode, a TTL not above the heartbeat', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ ...ENV, ...env });
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
      return '';
    };
    expect(problems({ FRS_METER_QPS_COORDINATION: 'redis' })).toMatch(/REDIS_URL is required with FRS_METER_QPS_COORDINATION=redis/);
    expect(problems({ FRS_METER_QPS_COORDINATION: 'etcd' })).toMatch(/FRS_METER_QPS_COORDINATION="etcd" is not valid: expected one of local, postgres, redis/);
    expect(problems({ FRS_METER_QPS_OVERFLOW: 'drop' })).toMatch(/FRS_METER_QPS_OVERFLOW="drop" is not valid/);
    expect(problems({ FRS_METER_QPS_HEARTBEAT_MS: '1000', FRS_METER_QPS_REPLICA_TTL_MS: '1000' })).toMatch(/FRS_METER_QPS_REPLICA_TTL_MS must be more than/);
    expect(problems({ REDIS_URL: 'localhost:6379' })).toMatch(/REDIS_URL is not valid/);
  });
});

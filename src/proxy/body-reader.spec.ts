import { BodyPool } from './body-reader';

describe('BodyPool', () => {
  it('hands a released buffer of the same size class back instead of allocating', () => {
    const pool = new BodyPool(1024 * 1024);
    const a = pool.acquire(200 * 1024); // class 256 KiB
    expect(a.length).toBe(256 * 1024);
    pool.release(a);
    const b = pool.acquire(150 * 1024); // same class
    expect(b).toBe(a);
    const c = pool.acquire(150 * 1024); // pool empty again: a new one
    expect(c).not.toBe(a);
  });

  it('keeps at most its byte bound and never pools small or odd-sized buffers', () => {
    const pool = new BodyPool(512 * 1024);
    const bufs = [pool.acquire(200 * 1024), pool.acquire(200 * 1024), pool.acquire(200 * 1024)];
    bufs.forEach((b) => pool.release(b)); // 3 × 256 KiB offered, 2 fit in 512 KiB
    const again = [pool.acquire(200 * 1024), pool.acquire(200 * 1024), pool.acquire(200 * 1024)];
    expect(again.filter((b) => bufs.includes(b))).toHaveLength(2);
    // Below 32 KiB a body gets its own exact buffer, and a buffer not of a class size is dropped.
    expect(pool.acquire(1000).length).toBe(1000);
    const odd = Buffer.alloc(100 * 1024);
    pool.release(odd);
    expect(pool.acquire(100 * 1024)).not.toBe(odd);
  });
});

// A seedable PRNG for the emulator: fault draws, latency samples and generated ids all come
// from one stream, so a test that passes a seed sees the same sequence every run.

import { randomInt } from 'node:crypto';

/** Returns a float in [0, 1). */
export type Random = () => number;

/** mulberry32: tiny, fast and good enough for simulation; not for secrets. */
export function createRandom(seed?: number): Random {
  let state = (seed ?? randomInt(0, 2 ** 31)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const HEX = '0123456789abcdef';

function pick(rand: Random, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(rand() * alphabet.length)];
  return out;
}

/** FRS face and face-set ids are 8 letters (e.g. `iexEBb6t`). */
export function letterId(rand: Random, length = 8): string {
  return pick(rand, LETTERS, length);
}

export function hexId(rand: Random, length = 32): string {
  return pick(rand, HEX, length);
}

/** A standard normal draw (Box-Muller). */
export function normal(rand: Random): number {
  const u = 1 - rand(); // (0, 1]: log(0) would be -Infinity
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

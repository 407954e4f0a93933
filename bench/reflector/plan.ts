// What the reflector benchmark runs: its loopback address plan and the sizes of its three scenarios
// (full size by default, BENCH_SCALE=small for a quick run). Nothing here touches the network.

/** The reflector under test listens here; generated clients connect from 127.90.1.1 upwards. */
export const REFLECTOR_ADDRESS = '127.90.0.1';
export const REFLECTOR_PORT = 17_980;
export const LOCAL_AS = 64512;

/** Loopback source address of generated client i (all of 127/8 is local on Linux: nothing to add). */
export function clientAddress(i: number): string {
  return `127.90.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

/** BGP Identifier of generated client i: 11.0.0.1 upwards, distinct from the reflector's. */
export function clientRouterId(i: number): number {
  return (0x0b000001 + i) >>> 0;
}

/**
 * A NEXT_HOP for attribute set or node i. Not in 127/8 (GoBGP treats those as withdraws, FRR resets the
 * session); nothing is ever routed to it: the reflectors only carry it.
 */
export function nextHopAddress(i: number): string {
  return `100.65.${Math.floor(i / 250)}.${1 + (i % 250)}`;
}

export interface Scale {
  readonly name: 'full' | 'small';
  /** S1: prefixes from one injector, in `s1AttributeSets` attribute sets, to `s1Receivers` clients. */
  readonly s1Prefixes: number;
  readonly s1AttributeSets: number;
  readonly s1Receivers: number;
  /** S2 (Calico-shaped): clients that each announce `s2BlocksPerClient` /26 blocks. */
  readonly s2Clients: number;
  readonly s2BlocksPerClient: number;
  /** S3: prefixes from one injector to `s3Receivers` clients, for memory per stored path. */
  readonly s3Prefixes: number;
  readonly s3Receivers: number;
}

const FULL: Scale = {
  name: 'full',
  s1Prefixes: 100_000,
  s1AttributeSets: 10,
  s1Receivers: 10,
  s2Clients: 500,
  s2BlocksPerClient: 4,
  s3Prefixes: 1_000_000,
  s3Receivers: 2,
};

const SMALL: Scale = {
  ...FULL,
  name: 'small',
  s1Prefixes: 10_000,
  s2Clients: 50,
  s3Prefixes: 100_000,
};

export function scaleFromEnv(env: NodeJS.ProcessEnv = process.env): Scale {
  const wanted = env.BENCH_SCALE ?? 'full';
  if (wanted === 'small') return SMALL;
  if (wanted === 'full') return FULL;
  throw new Error(`BENCH_SCALE=${wanted}: expected "full" or "small"`);
}

/** 100000 → "100k", 1000000 → "1M": for case names. */
export function shortCount(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1000 && n % 1000 === 0) return `${n / 1000}k`;
  return String(n);
}

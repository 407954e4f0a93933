// What the reflector benchmark runs: its loopback address plan and the sizes of its five scenarios
// (full size by default, BENCH_SCALE=small for a quick run). Nothing here touches the network.

/** The reflector under test listens here; generated clients connect from 127.93.1.1 upwards. */
export const REFLECTOR_ADDRESS = '127.93.0.1';
export const REFLECTOR_PORT = 17_983;
export const LOCAL_AS = 64512;

/** Loopback source address of generated client i (all of 127/8 is local on Linux: nothing to add). */
export function clientAddress(i: number): string {
  return `127.93.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
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
  /** Attribute sets the injected prefixes are spread over (prefix i in set i mod this). */
  readonly attributeSets: number;
  /** S1, S2, S3, S5: prefixes from one injector to that many receiving clients. */
  readonly s1Prefixes: number;
  readonly s1Receivers: number;
  readonly s2Prefixes: number;
  readonly s2Receivers: number;
  readonly s3Prefixes: number;
  readonly s3Receivers: number;
  /** S4 (Calico-shaped): clients that each announce `s4BlocksPerClient` /26 blocks. */
  readonly s4Clients: number;
  readonly s4BlocksPerClient: number;
  readonly s5Prefixes: number;
  readonly s5Receivers: number;
}

const FULL: Scale = {
  name: 'full',
  attributeSets: 4,
  s1Prefixes: 100_000,
  s1Receivers: 10,
  s2Prefixes: 10_000,
  s2Receivers: 50,
  s3Prefixes: 500_000,
  s3Receivers: 10,
  s4Clients: 1000,
  s4BlocksPerClient: 4,
  s5Prefixes: 10_000,
  s5Receivers: 1000,
};

const SMALL: Scale = {
  ...FULL,
  name: 'small',
  s1Prefixes: 10_000,
  s2Prefixes: 2_000,
  s3Prefixes: 50_000,
  s4Clients: 100,
  s5Prefixes: 2_000,
  s5Receivers: 100,
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

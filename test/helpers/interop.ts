// The network of an interop test file: one namespace for the real daemon, joined by a veth pair to the
// root namespace, where the test process runs Brindle. Each test file passes its own index, so files
// running in parallel use distinct subnets (100.64.<index>.0/24 and fd00:<index>::/64, on our veths only).
import type { ExecutionContext } from 'ava';
import { Cleanup, createLinkedNetns } from './netns.ts';

export interface InteropNetwork {
  readonly netns: string;
  /** Brindle's addresses (root namespace end of the veth). */
  readonly brindle4: string;
  readonly brindle6: string;
  /** The daemon's addresses (inside the namespace). */
  readonly peer4: string;
  readonly peer6: string;
  readonly cleanup: Cleanup;
}

export async function interopNetwork(index: number, tag: string): Promise<InteropNetwork> {
  const cleanup = new Cleanup();
  const { netns } = await createLinkedNetns(
    {
      tag,
      addresses: [`100.64.${index}.2/24`, `fd00:${index}::2/64`],
      peerAddresses: [`100.64.${index}.1/24`, `fd00:${index}::1/64`],
    },
    cleanup,
  );
  return {
    netns,
    brindle4: `100.64.${index}.1`,
    brindle6: `fd00:${index}::1`,
    peer4: `100.64.${index}.2`,
    peer6: `fd00:${index}::2`,
    cleanup,
  };
}

/** Fails the test with the daemon's own output when `fn` throws, to make interop failures readable. */
export async function withDiagnostics<T>(
  t: ExecutionContext,
  output: () => string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    t.log(output().slice(-4000));
    throw error;
  }
}

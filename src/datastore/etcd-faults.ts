// How the etcd3 client behaves when etcd is away, replacing its defaults (cockatiel policies, which
// etcd3 takes as plain interfaces, so nothing here imports cockatiel):
//  - etcd3 retries a failed call three times by default, and a retried create or CAS whose first try
//    did reach etcd reports a conflict with its own write. Here a call is tried once; the caller sees
//    StoreError 'unavailable' and decides.
//  - etcd3 opens a per-host circuit breaker for 5 s after three failures, so calls kept failing for up
//    to 5 s after etcd was back. Here a host is skipped for a short cooldown after a transport failure,
//    and only when another endpoint can take the call; with one endpoint every call goes straight through.
//  - etcd3 retries a broken watch stream with a backoff that grows to 30 s; here it is capped.

import { isRecoverableError } from 'etcd3';
import type { IOptions } from 'etcd3';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type Backoff = NonNullable<FaultHandling['watchBackoff']>;

const noEvent = () => ({ dispose: () => undefined });

/** A policy that runs the call once, as is. */
export const passThroughPolicy: Policy = {
  _altReturn: undefined as never,
  onSuccess: noEvent,
  onFailure: noEvent,
  async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) {
    return fn({ signal: signal ?? new AbortController().signal });
  },
};

/** Thrown instead of calling a host in its cooldown; etcd3 then tries the next endpoint. */
class HostCoolingDown extends Error {}

/**
 * A per-host policy: after a transport failure the host is skipped for `cooldownMs`, so calls go to the
 * other endpoints meanwhile. Skipping never reaches etcd, which is what makes etcd3 move on to the next
 * host instead of failing the call.
 */
export function hostCooldownPolicy(cooldownMs: number): Policy {
  let coolingUntil = 0;
  return {
    ...passThroughPolicy,
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal) {
      if (Date.now() < coolingUntil) throw new HostCoolingDown('etcd endpoint cooling down after a failure');
      try {
        return await fn({ signal: signal ?? new AbortController().signal });
      } catch (error) {
        if (error instanceof Error && isRecoverableError(error)) coolingUntil = Date.now() + cooldownMs;
        throw error;
      }
    },
  };
}

/** Doubling from `minMs` up to `maxMs`; etcd3 starts over from the first step after a good response. */
export function cappedBackoff(minMs: number, maxMs: number): Backoff {
  const step = (durationMs: number): Backoff => ({
    duration: durationMs,
    next: () => step(Math.min(durationMs * 2, maxMs)),
  });
  return step(minMs);
}

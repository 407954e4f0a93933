// What the IPAM protocol pieces (affinity.ts, handle.ts, allocator.ts) share: the typed datastore, the
// wall clock they stamp records with, and the bound on compare-and-swap retries (§7.4).

import { IpamError } from './errors.ts';
import type { IpamDatastore } from './datastore.ts';

/** Calico's datastoreRetries (§7.4): a CAS that loses this many times in a row gives up. */
export const DATASTORE_RETRIES = 100;

export interface IpamContext {
  readonly ds: IpamDatastore;
  /** Wall-clock milliseconds (Date.now): stored in records other hosts read. */
  readonly now: () => number;
  readonly retries: number;
}

export function conflictError(what: string, retries: number): IpamError {
  return new IpamError('conflict', `${what}: lost ${retries} compare-and-swap races in a row; try again`);
}

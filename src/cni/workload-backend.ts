// The plugin's IPAM operations on a WorkloadIpam in this process (ipam/workload.ts), with IPAM and
// datastore failures turned into CNI errors: the datastore path (ipam-plugin.ts) uses one for a single
// call, the node's daemon one long-lived instance for the native front (daemon-side.ts).

import { isStoreError } from '../datastore/store.ts';
import { isIpamError } from '../ipam/errors.ts';
import type { WorkloadAddress, WorkloadRequest } from '../ipam/workload.ts';
import { CNI_ERROR, cniCodeOfIpam, CniError } from './cni.ts';
import type { IpamBackend, PluginRequest } from './cni.ts';

/** What the backend needs of a WorkloadIpam. */
export interface WorkloadOperations {
  assign(request: WorkloadRequest): Promise<readonly WorkloadAddress[]>;
  release(handleId: string): Promise<unknown>;
  addresses(handleId: string): Promise<readonly string[]>;
}

/** IPAM and datastore failures as CNI errors: transient ones are 11, so the runtime retries. */
export function cniErrorOf(error: unknown): unknown {
  if (isIpamError(error)) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    return new CniError(cniCodeOfIpam(error.code), error.message, cause);
  }
  if (isStoreError(error)) {
    const transient = error.kind === 'unavailable' || error.kind === 'conflict';
    const cause = error.cause instanceof Error ? error.cause.message : '';
    return new CniError(
      transient ? CNI_ERROR.tryAgainLater : CNI_ERROR.ioFailure,
      `datastore ${transient ? 'unavailable' : 'error'}: ${error.message}`,
      cause,
    );
  }
  return error;
}

export class WorkloadBackend implements IpamBackend {
  constructor(
    private readonly ipam: WorkloadOperations,
    /** The node allocations are for unless the request names one. */
    private readonly node: string,
    private readonly onClose: () => Promise<void> = () => Promise.resolve(),
  ) {}

  assign(request: PluginRequest): Promise<readonly WorkloadAddress[]> {
    return this.call(() => this.ipam.assign({ ...request, node: request.node ?? this.node }));
  }

  async release(handleId: string): Promise<void> {
    await this.call(() => this.ipam.release(handleId));
  }

  addresses(handleId: string): Promise<readonly string[]> {
    return this.call(() => this.ipam.addresses(handleId));
  }

  close(): Promise<void> {
    return this.onClose();
  }

  private async call<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (error) {
      throw cniErrorOf(error);
    }
  }
}

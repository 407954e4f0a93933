// IPAM errors: one class whose `code` names the cause, so brindlectl and the CNI plugin can tell "pool
// exhausted" from "datastore down" without parsing text, and whose message says it in Calico's words
// (calico-routing.md §7.2, §11 #4). Datastore failures keep the StoreError as `cause`.

export const IPAM_ERROR_CODES = [
  /** The request itself is malformed (bad address, empty node name, negative count). */
  'invalid-request',
  /** No IPPool qualifies for this node and use (§7.2 step 3, Calico's ErrNoQualifiedPool). */
  'no-pool',
  /** The qualifying pools have no free address left for this node (§7.2 step 8). */
  'pool-exhausted',
  /** The host owns maxBlocksPerHost blocks and may not claim another (§7.2 step 5, ErrBlockLimit). */
  'block-limit',
  /** strictAffinity forbids using another host's block (§7.2 step 8, AssignIP). */
  'strict-affinity',
  /** assignIp: the address is already allocated. */
  'already-allocated',
  /** The address lies in no (enabled) IPPool. */
  'not-in-pool',
  /** The address's pool does not allow this intended use (§6 allowedUses). */
  'use-not-allowed',
  /** A compare-and-swap kept losing after the bounded number of retries (§7.4). */
  'conflict',
  /** An operation took so long between its handle and block writes that it gave up (see allocator.ts). */
  'timeout',
  /** The datastore failed (unreachable, closed); `cause` holds the StoreError. */
  'datastore',
  /** A stored IPAM record does not decode. */
  'corrupt',
] as const;
export type IpamErrorCode = (typeof IPAM_ERROR_CODES)[number];

export class IpamError extends Error {
  readonly code: IpamErrorCode;

  constructor(code: IpamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IpamError';
    this.code = code;
  }
}

export function isIpamError(error: unknown, code?: IpamErrorCode): error is IpamError {
  return error instanceof IpamError && (code === undefined || error.code === code);
}

// IPAM's public face (calico-routing.md §7): the client that allocates and releases, the check and
// show data for brindlectl, the routes a node originates, and the pure block and pool cores.

export { IpamClient } from './allocator.ts';
export type {
  AssignedAddress,
  AssignIpArgs,
  AutoAssignArgs,
  AutoAssignResult,
  IpamClientOptions,
} from './allocator.ts';
export type { ReleaseRequest, ReleaseResult } from './release.ts';
export {
  checkIpam,
  DEFAULT_MIN_AGE_MS,
  DEFAULT_WORKLOAD_GRACE_MS,
  findProblems,
  PROBLEM_KINDS,
} from './check.ts';
export type { CheckOptions, CheckReport, IpamProblem, ProblemKind, Repair, WorkloadCheck } from './check.ts';
export { gatewayHandleOf, WorkloadIpam, WORKLOAD_ATTRIBUTES } from './workload.ts';
export type { WorkloadAddress, WorkloadIpamOptions, WorkloadRequest } from './workload.ts';
export { summarizeIpam, showIpam } from './show.ts';
export type { AddressUsage, BlockUsage, IpamShowData, NodeUsage, PoolUsage, ShowOptions } from './show.ts';
export { nodeRoutes } from './routes.ts';
export type { NodeRoutes } from './routes.ts';
export { IpamDatastore } from './datastore.ts';
export type { IpamSnapshot, Versioned } from './datastore.ts';
export { cachedResources, effectiveIpamConfig, storeResources } from './resources.ts';
export type { IpamConfig, IpamResources, IpamResourceView } from './resources.ts';
export { DATASTORE_RETRIES } from './context.ts';
export { IpamError, isIpamError, IPAM_ERROR_CODES } from './errors.ts';
export type { IpamErrorCode } from './errors.ts';
export { AFFINITY_PREFIX, BLOCK_PREFIX, HANDLE_PREFIX, IPAM_PREFIX } from './keys.ts';
export type { AffinityState, BlockAffinity, IpamHandle } from './records.ts';
export type { AllocationAttribute, AllocationBlock } from './block.ts';
export type { IntendedUse, IpamPool } from './pool.ts';

// The resources module's public face: types, parsing and validation, effective values, formatting.

export * from './types.ts';
export {
  acceptedFields,
  decodeResource,
  formatValidationError,
  parseResources,
  validateResource,
} from './decode.ts';
export type { DecodeResult } from './decode.ts';
export { crossCheck } from './cross-checks.ts';
export { checkFieldSupport, fieldSupport, IGNORED, REFUSED, SUPPORTED, tableEntries } from './support.ts';
export type { FieldFinding, Refused, Supported } from './support.ts';
export type { CrossCheckResult, CrossFinding } from './cross-checks.ts';
export {
  bindMode,
  configuredListenPort,
  DEFAULTS,
  defaultsApplied,
  globalAsNumber,
  globalConfig,
  ipamMaxBlocksPerHost,
  ipPoolAllowedUses,
  ipPoolBlockSize,
  ipPoolNodeSelector,
  logSeverityScreen,
  nodeConfig,
  nodeToNodeMeshEnabled,
  peerReversePeering,
  peerSourceAddress,
} from './defaults.ts';
export { formatResource, renderTable, resourceTable } from './format.ts';
export type { ResourceFormat, Table, TableContext } from './format.ts';
export {
  durationSeconds,
  parseAsNumber,
  parseCidrOrIp,
  parseDuration,
  parseIp,
  parseNetwork,
  parsePeerIp,
} from './values.ts';
export type { CidrOrIp, IpAddress, IpFamily, Network, PeerAddress } from './values.ts';

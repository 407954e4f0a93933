// The CNI side of `brindle-ipam` (CNI spec 1.0.0, also answering 0.3.0–0.4.0): the network config on
// stdin, the CNI_* environment, the result and error objects on stdout. Imports nothing at run time
// but what the fast path needs, so the plugin's process stays small when the daemon answers.
//
// Errors are CNI error objects on stdout, `{ cniVersion, code, msg, details }`, exit 1, never a stack:
// 11 ("try again later") when the datastore is unavailable or a CAS kept losing, the spec's 1/4/6/7
// for version, environment and config errors, 100+ for IPAM outcomes (below), 999 for anything else.
//
// ipam config: { type: "brindle-ipam", config?: FILE, socket?: PATH, nodeName?, ipv4Pools?,
// ipv6Pools?, assign_ipv4?: "true"|"false" (default true), assign_ipv6?: (default false) } — Calico's
// names, plus `socket` (the daemon's api.socket) and `config` (the Brindle config the datastore path
// reads; given without `socket`, the plugin always uses that config's datastore, main.ts socketOf).

import type { IpamErrorCode } from '../ipam/errors.ts';
import type { WorkloadAddress, WorkloadRequest } from '../ipam/workload.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
export const DEFAULT_CNI_VERSION = '1.0.0';

/** CNI's well-known error codes (spec §"Error"), and this plugin's own (100+). */
export const CNI_ERROR = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** IpamError codes without their own number. */
  ipam: 100,
  noPool: 101,
  poolExhausted: 102,
  blockLimit: 103,
  strictAffinity: 104,
  corrupt: 105,
  /** CHECK: the handle does not hold the addresses of prevResult. */
  checkFailed: 110,
  internal: 999,
} as const;

const IPAM_CODES: Partial<Record<IpamErrorCode, number>> = {
  'no-pool': CNI_ERROR.noPool,
  'pool-exhausted': CNI_ERROR.poolExhausted,
  'block-limit': CNI_ERROR.blockLimit,
  'strict-affinity': CNI_ERROR.strictAffinity,
  corrupt: CNI_ERROR.corrupt,
  'invalid-request': CNI_ERROR.invalidConfig,
  // Transient: the runtime retries.
  datastore: CNI_ERROR.tryAgainLater,
  conflict: CNI_ERROR.tryAgainLater,
  timeout: CNI_ERROR.tryAgainLater,
};

/** The CNI error code of an IpamError code (the daemon sends the latter over its socket). */
export function cniCodeOfIpam(code: string): number {
  return IPAM_CODES[code as IpamErrorCode] ?? CNI_ERROR.ipam;
}

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'CniError';
  }
}

export interface PluginOutput {
  readonly stdout: string;
  /** Diagnostics for the runtime's log (the CNI runtime shows stderr on failure). */
  readonly stderr: string;
  readonly exitCode: 0 | 1;
}

export interface IpamSection {
  readonly config?: string;
  readonly socket?: string;
  readonly nodeName?: string;
  readonly ipv4Pools?: readonly string[];
  readonly ipv6Pools?: readonly string[];
  readonly assignIpv4: boolean;
  readonly assignIpv6: boolean;
}

export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly ipam: IpamSection;
  readonly prevResult?: unknown;
}

/** A workload request before the node is known: the daemon fills in its own, the fallback its config's. */
export type PluginRequest = Omit<WorkloadRequest, 'node'> & { readonly node?: string };

/** Where the plugin's IPAM operations go: the node's daemon, or the datastore directly. */
export interface IpamBackend {
  assign(request: PluginRequest): Promise<readonly WorkloadAddress[]>;
  release(handleId: string): Promise<void>;
  addresses(handleId: string): Promise<readonly string[]>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// Input

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, field: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new CniError(CNI_ERROR.invalidConfig, `ipam.${field} must be a list of pool names or CIDRs`);
  }
  return value;
}

function flag(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new CniError(CNI_ERROR.invalidConfig, `ipam.${field} must be "true" or "false"`);
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string')
    throw new CniError(CNI_ERROR.invalidConfig, `ipam.${field} must be a string`);
  return value;
}

/** The cniVersion of stdin when it parses at all (errors answer in it). */
export function peekVersion(stdin: string): string {
  try {
    const parsed: unknown = JSON.parse(stdin);
    if (isRecord(parsed) && typeof parsed.cniVersion === 'string') return parsed.cniVersion;
  } catch {
    // Reported by parseNetConf.
  }
  return DEFAULT_CNI_VERSION;
}

function decode(stdin: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (error) {
    throw new CniError(
      CNI_ERROR.decodeFailure,
      'failed to decode the network configuration',
      error instanceof Error ? error.message : String(error),
    );
  }
  if (!isRecord(parsed))
    throw new CniError(CNI_ERROR.decodeFailure, 'the network configuration is not an object');
  return parsed;
}

export function parseNetConf(stdin: string): NetConf {
  const parsed = decode(stdin);
  const cniVersion = typeof parsed.cniVersion === 'string' ? parsed.cniVersion : DEFAULT_CNI_VERSION;
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(
      CNI_ERROR.incompatibleVersion,
      `unsupported CNI version ${cniVersion}`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (typeof parsed.name !== 'string' || parsed.name === '') {
    throw new CniError(CNI_ERROR.invalidConfig, 'the network configuration has no "name"');
  }
  const ipam = parsed.ipam;
  if (!isRecord(ipam))
    throw new CniError(CNI_ERROR.invalidConfig, 'the network configuration has no "ipam" section');
  return { cniVersion, name: parsed.name, prevResult: parsed.prevResult, ipam: ipamSection(ipam) };
}

function ipamSection(ipam: Record<string, unknown>): IpamSection {
  return {
    config: optionalString(ipam.config, 'config'),
    socket: optionalString(ipam.socket, 'socket'),
    nodeName: optionalString(ipam.nodeName, 'nodeName'),
    ipv4Pools: stringList(ipam.ipv4_pools ?? ipam.ipv4Pools, 'ipv4Pools'),
    ipv6Pools: stringList(ipam.ipv6_pools ?? ipam.ipv6Pools, 'ipv6Pools'),
    assignIpv4: flag(ipam.assign_ipv4, 'assign_ipv4', true),
    assignIpv6: flag(ipam.assign_ipv6, 'assign_ipv6', false),
  };
}

/** CNI_ARGS: `K=V;K=V` (Kubernetes passes K8S_POD_NAMESPACE, K8S_POD_NAME, …). */
export function parseCniArgs(text: string | undefined): Map<string, string> {
  const args = new Map<string, string>();
  for (const pair of (text ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0) args.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return args;
}

export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new CniError(CNI_ERROR.invalidEnv, `${name} is not set`);
  return value;
}

export function handleIdOf(network: string, containerId: string): string {
  return `${network}.${containerId}`;
}

/**
 * ADD's request: the handle `<network name>.<containerID>` (Calico's convention) and the owner
 * attributes `ipam check` reads — the container ID, the network namespace path and the time (its
 * leak check), and the pod's namespace and name when Kubernetes passes them.
 */
export function addRequest(conf: NetConf, env: NodeJS.ProcessEnv, now: number): PluginRequest {
  const containerId = requireEnv(env, 'CNI_CONTAINERID');
  const args = parseCniArgs(env.CNI_ARGS);
  const namespace = args.get('K8S_POD_NAMESPACE');
  const pod = args.get('K8S_POD_NAME');
  return {
    handleId: handleIdOf(conf.name, containerId),
    ...(conf.ipam.nodeName ? { node: conf.ipam.nodeName } : {}),
    attrs: {
      ...(namespace ? { namespace } : {}),
      ...(pod ? { pod } : {}),
      ...(env.CNI_IFNAME ? { interface: env.CNI_IFNAME } : {}),
      ...(env.CNI_NETNS ? { netns: env.CNI_NETNS } : {}),
      containerID: containerId,
      timestamp: new Date(now).toISOString(),
    },
    num4: conf.ipam.assignIpv4 ? 1 : 0,
    num6: conf.ipam.assignIpv6 ? 1 : 0,
    ...(conf.ipam.ipv4Pools ? { ipv4Pools: conf.ipam.ipv4Pools } : {}),
    ...(conf.ipam.ipv6Pools ? { ipv6Pools: conf.ipam.ipv6Pools } : {}),
  };
}

/** The addresses of prevResult.ips, without their prefix lengths. */
export function previousAddresses(prevResult: unknown): string[] {
  if (!isRecord(prevResult) || !Array.isArray(prevResult.ips)) {
    throw new CniError(CNI_ERROR.invalidConfig, 'CHECK needs prevResult with ips');
  }
  return prevResult.ips.map((ip: unknown) => {
    if (!isRecord(ip) || typeof ip.address !== 'string') {
      throw new CniError(CNI_ERROR.invalidConfig, 'prevResult.ips[].address must be a string');
    }
    return ip.address.replace(/\/\d+$/, '');
  });
}

// ---------------------------------------------------------------------------------------------------
// Output

/**
 * ADD's result: each address with its pool's prefix length and the node's gateway in that pool (what
 * ptp needs), and a default route for each family assigned. The host still routes each pod as a /32.
 */
export function addResult(conf: NetConf, addresses: readonly WorkloadAddress[]): object {
  const ips = addresses.map((a) => ({
    ...(conf.cniVersion === '1.0.0' ? {} : { version: String(a.family) }),
    address: `${a.address}/${a.prefixLength}`,
    gateway: a.gateway,
  }));
  const routes = [
    ...(addresses.some((a) => a.family === 4) ? [{ dst: '0.0.0.0/0' }] : []),
    ...(addresses.some((a) => a.family === 6) ? [{ dst: '::/0' }] : []),
  ];
  return { cniVersion: conf.cniVersion, ips, routes, dns: {} };
}

export function versionOutput(cniVersion: string): PluginOutput {
  return {
    stdout: `${JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS })}\n`,
    stderr: '',
    exitCode: 0,
  };
}

function internalError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  return new CniError(
    CNI_ERROR.internal,
    `internal error: ${error instanceof Error ? error.message : String(error)}`,
  );
}

export function errorOutput(cniVersion: string, error: unknown, note = ''): PluginOutput {
  const e = internalError(error);
  const body = { cniVersion, code: e.code, msg: e.message, details: e.details };
  const stack = e === error || !(error instanceof Error) ? '' : `${error.stack ?? error.message}\n`;
  return {
    stdout: `${JSON.stringify(body)}\n`,
    stderr: `${note}brindle-ipam: ${e.message}\n${stack}`,
    exitCode: 1,
  };
}

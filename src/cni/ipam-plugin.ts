// `brindle-ipam`: a CNI IPAM plugin (CNI spec 1.0.0, also answering 0.3.0–0.4.0) over Brindle's IPAM
// (src/ipam), as calico-ipam is over libcalico-go's. A main plugin (ptp, bridge, …) execs it with the
// network config on stdin and CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS in the
// environment; it opens the datastore named by the Brindle config (ipam.config, else $BRINDLE_CONFIG,
// else /etc/brindle/brindle.yaml when it exists, else the built-in defaults, plus the BRINDLE_*
// overrides), so it works whether or not the daemon runs.
//
//   ADD      autoAssign with handle `<network name>.<containerID>` (Calico's convention); the result
//            holds each address with its pool's prefix length and a gateway: a node address from the
//            same pool, allocated once per node and pool under `brindle-gateway.<node>.<pool>` (what
//            ptp needs: it rejects /32 addresses and off-subnet gateways; see ipConfig), plus a
//            default route for each family assigned. The host still routes each pod as a /32.
//   DEL      releaseByHandle; a handle that holds nothing (a repeated DEL) is success.
//   CHECK    the handle exists and holds every address of prevResult.
//   VERSION  the supported versions.
//
// Errors are CNI error objects on stdout, `{ cniVersion, code, msg, details }`, exit 1, never a stack:
// 11 ("try again later") when the datastore is unavailable or a CAS kept losing, the spec's 1/4/6/7
// for version, environment and config errors, 100+ for IPAM outcomes (below), 999 for anything else.
//
// ipam config: { type: "brindle-ipam", config?: FILE, nodeName?, ipv4Pools?, ipv6Pools?,
// assign_ipv4?: "true"|"false" (default true), assign_ipv6?: (default false) } — Calico's names.

import { existsSync } from 'node:fs';
import { loadConfig } from '../config/config.ts';
import type { BrindleConfig } from '../config/config.ts';
import { openStore, storeConfig } from '../datastore/open.ts';
import { isStoreError } from '../datastore/store.ts';
import type { Store } from '../datastore/store.ts';
import { allocatedOrdinals, attributeOf, ordinalAddress } from '../ipam/block.ts';
import { formatAddress } from '../ipam/cidr.ts';
import { prefixBytes } from '../lib/prefix.ts';
import type { Prefix } from '../lib/prefix.ts';
import { IpamClient, IpamDatastore, isIpamError, showIpam } from '../ipam/index.ts';
import type { AssignedAddress, IpamErrorCode } from '../ipam/index.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;
const DEFAULT_CNI_VERSION = '1.0.0';
const SYSTEM_CONFIG = '/etc/brindle/brindle.yaml';
const ETCD_REQUEST_TIMEOUT_MS = 5_000;
const CLOSE_BOUND_MS = 2_000;

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

interface IpamSection {
  readonly config?: string;
  readonly nodeName?: string;
  readonly ipv4Pools?: readonly string[];
  readonly ipv6Pools?: readonly string[];
  readonly assignIpv4: boolean;
  readonly assignIpv6: boolean;
}

interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly ipam: IpamSection;
  readonly prevResult?: unknown;
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
function peekVersion(stdin: string): string {
  try {
    const parsed: unknown = JSON.parse(stdin);
    if (isRecord(parsed) && typeof parsed.cniVersion === 'string') return parsed.cniVersion;
  } catch {
    // Reported by parseNetConf.
  }
  return DEFAULT_CNI_VERSION;
}

export function parseNetConf(stdin: string): NetConf {
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
  return {
    cniVersion,
    name: parsed.name,
    prevResult: parsed.prevResult,
    ipam: {
      config: optionalString(ipam.config, 'config'),
      nodeName: optionalString(ipam.nodeName, 'nodeName'),
      ipv4Pools: stringList(ipam.ipv4_pools ?? ipam.ipv4Pools, 'ipv4Pools'),
      ipv6Pools: stringList(ipam.ipv6_pools ?? ipam.ipv6Pools, 'ipv6Pools'),
      assignIpv4: flag(ipam.assign_ipv4, 'assign_ipv4', true),
      assignIpv6: flag(ipam.assign_ipv6, 'assign_ipv6', false),
    },
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

function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new CniError(CNI_ERROR.invalidEnv, `${name} is not set`);
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Datastore

function brindleConfig(section: IpamSection, env: NodeJS.ProcessEnv): BrindleConfig {
  const file =
    section.config ?? (env.BRINDLE_CONFIG || (existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : undefined));
  const result = loadConfig(file, env);
  if (!result.ok) {
    throw new CniError(
      CNI_ERROR.invalidConfig,
      `invalid Brindle configuration${result.file ? ` in ${result.file}` : ''}`,
      result.errors.join('; '),
    );
  }
  return result.config;
}

function open(config: BrindleConfig): Promise<Store> {
  return openStore(storeConfig(config.datastore, ETCD_REQUEST_TIMEOUT_MS));
}

async function closeBounded(store: Store): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS)));
  await Promise.race([store.close().catch(() => undefined), bound]);
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------
// Commands

/** The node's gateway address in a pool, held under this handle (one per node, pool and family). */
export function gatewayHandleOf(node: string, pool: string): string {
  return `brindle-gateway.${node}.${pool}`;
}

/** The addresses a handle holds, lowest first (two first ADDs racing may both allocate one). */
async function addressesOf(store: Store, handleId: string): Promise<string[]> {
  const snapshot = await new IpamDatastore(store).snapshot();
  const found: { prefix: Prefix; text: string }[] = [];
  for (const { value: block } of snapshot.blocks) {
    for (const ordinal of allocatedOrdinals(block)) {
      if (attributeOf(block, ordinal)?.handleId !== handleId) continue;
      const prefix = ordinalAddress(block, ordinal);
      found.push({ prefix, text: formatAddress(prefix) });
    }
  }
  return found
    .sort((a, b) => Buffer.compare(prefixBytes(a.prefix), prefixBytes(b.prefix)))
    .map((f) => f.text);
}

/**
 * How the main plugin sees one address: with its pool's prefix length and a gateway in the pool, an
 * address of this node's held under gatewayHandleOf (allocated on first use, kept across pods, like
 * Calico's tunnel address). ptp needs exactly that: it puts the gateway on the host end of every veth
 * as a /32 and routes the pool through it in the pod; a /32 address or an off-subnet gateway fails.
 */
async function ipConfig(
  conf: NetConf,
  client: IpamClient,
  store: Store,
  node: string,
  a: AssignedAddress,
  v6: boolean,
): Promise<Record<string, string>> {
  const shown = await showIpam(store, { ip: a.address });
  const usage = shown.address;
  const pool = usage && shown.pools.find((p) => p.name === usage.pool);
  const prefixLength = (pool ?? { cidr: a.block }).cidr.split('/')[1];
  const gatewayHandle = gatewayHandleOf(node, pool?.name ?? a.block.replace('/', '-'));
  let [gateway] = await addressesOf(store, gatewayHandle);
  if (gateway === undefined) {
    const pools = pool ? [pool.name] : undefined;
    const result = await client.autoAssign({
      node,
      handleId: gatewayHandle,
      attrs: { type: 'gateway' },
      num4: v6 ? 0 : 1,
      num6: v6 ? 1 : 0,
      intendedUse: 'Workload',
      ...(pools ? (v6 ? { ipv6Pools: pools } : { ipv4Pools: pools }) : {}),
    });
    [gateway] = await addressesOf(store, gatewayHandle);
    gateway ??= (v6 ? result.ipv6 : result.ipv4)[0]?.address;
  }
  return {
    ...(conf.cniVersion === '1.0.0' ? {} : { version: v6 ? '6' : '4' }),
    address: `${a.address}/${prefixLength}`,
    gateway,
  };
}

export function handleIdOf(network: string, containerId: string): string {
  return `${network}.${containerId}`;
}

async function add(conf: NetConf, env: NodeJS.ProcessEnv, store: Store, node: string): Promise<object> {
  const containerId = requireEnv(env, 'CNI_CONTAINERID');
  const args = parseCniArgs(env.CNI_ARGS);
  const handleId = handleIdOf(conf.name, containerId);
  const namespace = args.get('K8S_POD_NAMESPACE');
  const pod = args.get('K8S_POD_NAME');
  const attrs: Record<string, string> = {
    ...(namespace ? { namespace } : {}),
    ...(pod ? { pod } : {}),
    ...(env.CNI_IFNAME ? { interface: env.CNI_IFNAME } : {}),
    containerID: containerId,
  };
  const client = new IpamClient({ store });
  // A runtime may retry ADD for the same container: give back what the handle already holds first,
  // so a retry never holds two addresses (Calico's plugin does the same).
  await client.releaseByHandle(handleId);
  const result = await client.autoAssign({
    node,
    handleId,
    attrs,
    num4: conf.ipam.assignIpv4 ? 1 : 0,
    num6: conf.ipam.assignIpv6 ? 1 : 0,
    intendedUse: 'Workload',
    ...(conf.ipam.ipv4Pools ? { ipv4Pools: conf.ipam.ipv4Pools } : {}),
    ...(conf.ipam.ipv6Pools ? { ipv6Pools: conf.ipam.ipv6Pools } : {}),
  });
  const ips: Record<string, string>[] = [];
  for (const a of result.ipv4) ips.push(await ipConfig(conf, client, store, node, a, false));
  for (const a of result.ipv6) ips.push(await ipConfig(conf, client, store, node, a, true));
  const routes = [
    ...(result.ipv4.length > 0 ? [{ dst: '0.0.0.0/0' }] : []),
    ...(result.ipv6.length > 0 ? [{ dst: '::/0' }] : []),
  ];
  return { cniVersion: conf.cniVersion, ips, routes, dns: {} };
}

async function del(conf: NetConf, env: NodeJS.ProcessEnv, store: Store): Promise<void> {
  const containerId = requireEnv(env, 'CNI_CONTAINERID');
  await new IpamClient({ store }).releaseByHandle(handleIdOf(conf.name, containerId));
}

/** The addresses of prevResult.ips, without their prefix lengths. */
function previousAddresses(prevResult: unknown): string[] {
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

async function check(conf: NetConf, env: NodeJS.ProcessEnv, store: Store): Promise<void> {
  const containerId = requireEnv(env, 'CNI_CONTAINERID');
  const handleId = handleIdOf(conf.name, containerId);
  const addresses = previousAddresses(conf.prevResult);
  for (const address of addresses) {
    const usage = (await showIpam(store, { ip: address })).address;
    if (usage?.state !== 'in-use' || usage.handleId !== handleId) {
      throw new CniError(
        CNI_ERROR.checkFailed,
        `address ${address} is not allocated to handle ${handleId}`,
        usage
          ? `state: ${usage.state}${usage.state === 'in-use' ? `, handle: ${usage.handleId ?? '-'}` : ''}`
          : '',
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Errors and the entry point

function errorOf(error: unknown): CniError {
  if (error instanceof CniError) return error;
  if (isIpamError(error)) {
    const cause = error.cause instanceof Error ? error.cause.message : '';
    return new CniError(IPAM_CODES[error.code] ?? CNI_ERROR.ipam, error.message, cause);
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
  return new CniError(
    CNI_ERROR.internal,
    `internal error: ${error instanceof Error ? error.message : String(error)}`,
  );
}

function errorOutput(cniVersion: string, error: unknown): PluginOutput {
  const e = errorOf(error);
  const body = { cniVersion, code: e.code, msg: e.message, details: e.details };
  const stack = e === error || !(error instanceof Error) ? '' : `${error.stack ?? error.message}\n`;
  return { stdout: `${JSON.stringify(body)}\n`, stderr: `brindle-ipam: ${e.message}\n${stack}`, exitCode: 1 };
}

/** One plugin invocation, with no process globals: the test and bench call it in-process. */
export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<PluginOutput> {
  const cniVersion = peekVersion(stdin);
  const command = env.CNI_COMMAND;
  if (command === 'VERSION') {
    return {
      stdout: `${JSON.stringify({ cniVersion, supportedVersions: SUPPORTED_VERSIONS })}\n`,
      stderr: '',
      exitCode: 0,
    };
  }
  let store: Store | undefined;
  try {
    if (command !== 'ADD' && command !== 'DEL' && command !== 'CHECK') {
      throw new CniError(
        CNI_ERROR.invalidEnv,
        `CNI_COMMAND must be ADD, DEL, CHECK or VERSION, not ${JSON.stringify(command ?? '')}`,
      );
    }
    const conf = parseNetConf(stdin);
    const config = brindleConfig(conf.ipam, env);
    store = await open(config);
    if (command === 'ADD') {
      const result = await add(conf, env, store, conf.ipam.nodeName ?? config.nodeName);
      return { stdout: `${JSON.stringify(result)}\n`, stderr: '', exitCode: 0 };
    }
    await (command === 'DEL' ? del(conf, env, store) : check(conf, env, store));
    return { stdout: '', stderr: '', exitCode: 0 };
  } catch (error) {
    return errorOutput(cniVersion, error);
  } finally {
    if (store) await closeBounded(store);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** bin/brindle-ipam: runs the plugin on this process's stdin and environment, returns the exit code. */
export async function main(): Promise<number> {
  let output: PluginOutput;
  try {
    output = await runPlugin(process.env, await readStdin());
  } catch (error) {
    output = errorOutput(DEFAULT_CNI_VERSION, error);
  }
  process.stderr.write(output.stderr);
  await new Promise<void>((resolve) => process.stdout.write(output.stdout, () => resolve()));
  return output.exitCode;
}

// IPAM on the control socket, for the node's `brindle-ipam` CNI plugin (src/cni/daemon-client.ts):
// the daemon keeps one WorkloadIpam whose pools come from the resource cache and whose allocator
// remembers the node's blocks, so an ADD is one transaction (block + handle, one durable commit) and
// many ADDs at once share commits (ipam/block-writer.ts). Socket only: the file's mode (0660, root and
// the daemon's group) is the access control; the TCP listener refuses these with 403.
//
// PUT    /api/v1/ipam/handles/HANDLE  {node?, attrs, num4, num6, ipv4Pools?, ipv6Pools?}
//        → {addresses: WorkloadAddress[]}; idempotent: a handle keeps what it holds
// GET    /api/v1/ipam/handles/HANDLE  → {addresses: ["10.65.0.5"]}
// DELETE /api/v1/ipam/handles/HANDLE  → {released: [...]}; nothing held is success
// POST   /api/v1/cni  {env: {CNI_*}, stdin: "network config"}  the whole plugin run, for the native
//        front of brindle-ipam (native/cni-shim.c): 200 with the plugin's stdout then its stderr as
//        the body, split by `brindle-cni-stdout-length`, and `brindle-cni-exit-code`; any other
//        status means the plugin did not run and the front runs the Node plugin instead
//
// An IpamError answers with its code, `{error, status, code, details}`, so the plugin gives the runtime
// the same CNI error either path would.

import { isIpamError } from '../ipam/errors.ts';
import type { IpamErrorCode } from '../ipam/errors.ts';
import type { WorkloadAddress, WorkloadRequest } from '../ipam/workload.ts';
import { HttpError, readJson } from './http.ts';
import type { ApiRequest, Reply } from './http.ts';

/** What the routes need of ipam/workload.ts's WorkloadIpam. */
export interface WorkloadService {
  assign(request: WorkloadRequest): Promise<readonly WorkloadAddress[]>;
  release(handleId: string): Promise<{ readonly released: readonly string[] }>;
  addresses(handleId: string): Promise<readonly string[]>;
}

/** One run of the CNI plugin (src/cni/plugin.ts) on the daemon's IPAM: what it prints, how it exits. */
export type CniPluginRun = (
  env: Readonly<Record<string, string>>,
  stdin: string,
) => Promise<{ readonly stdout: string; readonly stderr: string; readonly exitCode: number }>;

export interface WorkloadApi {
  readonly ipam: WorkloadService;
  /** The daemon's node: allocations are for it unless the request names one. */
  readonly node: string;
  /** POST /api/v1/cni; 501 when absent. */
  readonly plugin?: CniPluginRun;
}

const STATUS: Partial<Record<IpamErrorCode, number>> = {
  'invalid-request': 400,
  datastore: 503,
  conflict: 503,
  timeout: 503,
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function strings(value: unknown, field: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new HttpError(400, `${field} must be a list of strings`);
}

function count(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (Number.isSafeInteger(value) && (value as number) >= 0) return value as number;
  throw new HttpError(400, `${field} must be a whole number`);
}

function attributes(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (isRecord(value) && Object.values(value).every((v) => typeof v === 'string'))
    return value as Record<string, string>;
  throw new HttpError(400, 'attrs must map names to strings');
}

/** PUT's body as a WorkloadRequest; 400 for anything else. */
export function parseWorkloadRequest(handleId: string, body: unknown, node: string): WorkloadRequest {
  if (!isRecord(body)) throw new HttpError(400, 'expected a JSON object');
  if (body.node !== undefined && (typeof body.node !== 'string' || body.node === ''))
    throw new HttpError(400, 'node must be a node name');
  const ipv4Pools = strings(body.ipv4Pools, 'ipv4Pools');
  const ipv6Pools = strings(body.ipv6Pools, 'ipv6Pools');
  return {
    handleId,
    node: body.node ?? node,
    attrs: attributes(body.attrs),
    num4: count(body.num4, 'num4'),
    num6: count(body.num6, 'num6'),
    ...(ipv4Pools ? { ipv4Pools } : {}),
    ...(ipv6Pools ? { ipv6Pools } : {}),
  };
}

/** IPAM's outcome as the reply; an IpamError keeps its code for the plugin. */
async function answer(body: () => Promise<object>): Promise<Reply> {
  try {
    return { body: await body() };
  } catch (error) {
    if (!isIpamError(error)) throw error;
    const status = STATUS[error.code] ?? 409;
    const details = error.cause instanceof Error ? error.cause.message : '';
    return { status, body: { error: error.message, status, code: error.code, details } };
  }
}

function available(api: WorkloadApi | undefined): WorkloadApi {
  if (!api) throw new HttpError(501, 'IPAM is served only by a daemon in node mode');
  return api;
}

export async function assignHandle(api: WorkloadApi | undefined, request: ApiRequest): Promise<Reply> {
  const { ipam, node } = available(api);
  const workload = parseWorkloadRequest(request.params.handle, await readJson(request.raw), node);
  return answer(async () => ({ addresses: await ipam.assign(workload) }));
}

export function handleAddresses(api: WorkloadApi | undefined, request: ApiRequest): Promise<Reply> {
  const { ipam } = available(api);
  return answer(async () => ({ addresses: await ipam.addresses(request.params.handle) }));
}

export function releaseHandle(api: WorkloadApi | undefined, request: ApiRequest): Promise<Reply> {
  const { ipam } = available(api);
  return answer(() => ipam.release(request.params.handle));
}

/** POST /api/v1/cni's body: the runtime's CNI_* variables and the network config, as strings. */
function parsePluginCall(body: unknown): { env: Record<string, string>; stdin: string } {
  if (!isRecord(body) || typeof body.stdin !== 'string') throw new HttpError(400, 'expected {env, stdin}');
  const env = attributes(body.env);
  if (!Object.keys(env).every((name) => name.startsWith('CNI_')))
    throw new HttpError(400, 'env holds only CNI_* variables');
  return { env, stdin: body.stdin };
}

/** The plugin's output written whole, with a length, so a cut-off answer is never taken for one. */
export async function runCniPlugin(api: WorkloadApi | undefined, request: ApiRequest): Promise<Reply> {
  const plugin = available(api).plugin;
  if (!plugin) throw new HttpError(501, 'this daemon does not run the CNI plugin');
  const { env, stdin } = parsePluginCall(await readJson(request.raw));
  const output = await plugin(env, stdin);
  const stdout = Buffer.from(output.stdout);
  const body = Buffer.concat([stdout, Buffer.from(output.stderr)]);
  request.response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': body.length,
    'cache-control': 'no-store',
    'brindle-cni-stdout-length': stdout.length,
    'brindle-cni-exit-code': output.exitCode,
  });
  request.response.end(body);
  return undefined;
}

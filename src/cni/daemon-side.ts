// The plugin as the node's daemon runs it for the native front of brindle-ipam (native/cni-shim.c):
// the runtime's CNI_* variables and network config arrive in one request on the control socket
// (POST /api/v1/cni, api/ipam-api.ts), and plugin.ts runs on the daemon's long-lived WorkloadIpam, so
// the answer is byte for byte what the Node plugin would print, from one source.

import type { PluginOutput } from './cni.ts';
import { invoke } from './plugin.ts';
import { WorkloadBackend } from './workload-backend.ts';
import type { WorkloadOperations } from './workload-backend.ts';

/** One plugin run on `ipam` for `node` (the daemon's own unless the network config names one). */
export function daemonPlugin(
  ipam: WorkloadOperations,
  node: string,
  now: () => number = Date.now,
): (env: Readonly<Record<string, string>>, stdin: string) => Promise<PluginOutput> {
  const backend = new WorkloadBackend(ipam, node);
  return (env, stdin) => invoke(env, stdin, backend, now);
}

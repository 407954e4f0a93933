// One CNI invocation against an IpamBackend: ADD, DEL, CHECK and VERSION as the spec defines them, the
// network config parsed, the result or error object formatted (cni.ts). The Node plugin (main.ts) runs
// it against the daemon's socket or the datastore; the node's daemon runs it in-process for the native
// front (native/cni-shim.c, POST /api/v1/cni), so every path answers with the same bytes.
//
//   ADD      the addresses handle `<network name>.<containerID>` holds, assigning those it lacks
//            (a retried ADD gets the same address, as with Calico); each with its pool's prefix
//            length and the node's gateway in the pool, plus a default route per family.
//   DEL      release by handle; a handle that holds nothing (a repeated DEL) is success.
//   CHECK    the handle holds every address of prevResult.
//   VERSION  the supported versions.

import {
  addRequest,
  addResult,
  CNI_ERROR,
  CniError,
  errorOutput,
  handleIdOf,
  parseNetConf,
  peekVersion,
  previousAddresses,
  requireEnv,
  versionOutput,
} from './cni.ts';
import type { IpamBackend, NetConf, PluginOutput } from './cni.ts';

export type Command = 'ADD' | 'DEL' | 'CHECK';

export function commandOf(value: string | undefined): Command {
  if (value === 'ADD' || value === 'DEL' || value === 'CHECK') return value;
  throw new CniError(
    CNI_ERROR.invalidEnv,
    `CNI_COMMAND must be ADD, DEL, CHECK or VERSION, not ${JSON.stringify(value ?? '')}`,
  );
}

async function check(conf: NetConf, backend: IpamBackend, handleId: string): Promise<void> {
  const wanted = previousAddresses(conf.prevResult);
  const held = await backend.addresses(handleId);
  const missing = wanted.filter((address) => !held.includes(address));
  if (missing.length === 0) return;
  throw new CniError(
    CNI_ERROR.checkFailed,
    `address ${missing.join(', ')} is not allocated to handle ${handleId}`,
    `the handle holds: ${held.join(', ') || 'nothing'}`,
  );
}

/** The command's stdout (ADD's result, nothing for DEL and CHECK); throws what fails. */
export async function execute(
  command: Command,
  conf: NetConf,
  env: NodeJS.ProcessEnv,
  backend: IpamBackend,
  now: () => number,
): Promise<string> {
  if (command === 'ADD') {
    const addresses = await backend.assign(addRequest(conf, env, now()));
    return `${JSON.stringify(addResult(conf, addresses))}\n`;
  }
  const handleId = handleIdOf(conf.name, requireEnv(env, 'CNI_CONTAINERID'));
  await (command === 'DEL' ? backend.release(handleId) : check(conf, backend, handleId));
  return '';
}

/**
 * CNI spec ("Error"): the runtime gets the error result (code, msg, details) on stdout and the
 * operator one line on stderr, never a stack trace, even for an error nobody expected: that one is
 * "internal" (999) with the error's class in `details`.
 */
export function withoutStack(error: unknown): unknown {
  if (error instanceof CniError || !(error instanceof Error)) return error;
  return new CniError(CNI_ERROR.internal, `internal error: ${error.message}`, error.name);
}

/** The whole invocation on one backend, every failure as a CNI error result. */
export async function invoke(
  env: NodeJS.ProcessEnv,
  stdin: string,
  backend: IpamBackend,
  now: () => number = Date.now,
): Promise<PluginOutput> {
  const cniVersion = peekVersion(stdin);
  if (env.CNI_COMMAND === 'VERSION') return versionOutput(cniVersion);
  try {
    const command = commandOf(env.CNI_COMMAND);
    const stdout = await execute(command, parseNetConf(stdin), env, backend, now);
    return { stdout, stderr: '', exitCode: 0 };
  } catch (error) {
    return errorOutput(cniVersion, withoutStack(error));
  }
}

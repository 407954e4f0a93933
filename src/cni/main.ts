// `brindle-ipam`, the CNI IPAM plugin, as the container runtime runs it once per ADD, DEL and CHECK: a
// main plugin (ptp, bridge, …) execs it with the network config on stdin and CNI_COMMAND,
// CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS in the environment. bin/brindle-ipam imports this
// module.
//
// The common path asks the node's running Brindle over its control socket (daemon-client.ts; ipam
// `socket`, else $BRINDLE_API_SOCKET, else /run/brindle/brindle.sock; see socketOf): allocation is
// then a local operation on blocks and pools already in memory, and this process loads only `node:`
// built-ins.
// When no daemon answers, or it died mid-call, the plugin imports the datastore path (ipam-plugin.ts)
// and does the same operation itself: today's behaviour, same result. What each command does is
// plugin.ts. The installed /opt/cni/bin/brindle-ipam is the native front (native/cni-shim.c), which
// has the daemon run plugin.ts and execs this plugin whenever the daemon does not answer.

import { DEFAULT_CNI_VERSION, errorOutput, parseNetConf, peekVersion, versionOutput } from './cni.ts';
import type { NetConf, PluginOutput } from './cni.ts';
import { DaemonClient, DaemonUnavailable, DEFAULT_SOCKET } from './daemon-client.ts';
import { commandOf, execute, withoutStack } from './plugin.ts';
import type { Command } from './plugin.ts';

export interface PluginOptions {
  /** Wall-clock milliseconds stamped on allocations (Date.now when absent). */
  readonly now?: () => number;
  /** How long to wait for the daemon's answer (daemon-client.ts's default when absent). */
  readonly daemonTimeoutMs?: number;
  /**
   * The datastore path (executeDirect when absent). Tests that call the plugin in-process run it in
   * a process of its own, as the runtime would: one process opens an embedded store only once.
   */
  readonly direct?: (env: NodeJS.ProcessEnv, stdin: string) => Promise<string>;
}

/**
 * The daemon's socket: ipam `socket`, else $BRINDLE_API_SOCKET, else the default — unless ipam
 * `config` names a Brindle config without naming its socket: the daemon on the default socket need
 * not use that config's datastore, so the plugin goes to the datastore itself (undefined).
 */
export function socketOf(conf: NetConf, env: NodeJS.ProcessEnv): string | undefined {
  if (conf.ipam.socket !== undefined) return conf.ipam.socket;
  if (conf.ipam.config !== undefined) return undefined;
  return env.BRINDLE_API_SOCKET || DEFAULT_SOCKET;
}

/** The datastore path: loaded only now, so the daemon path never pays for it. */
async function executeDirect(
  command: Command,
  conf: NetConf,
  env: NodeJS.ProcessEnv,
  now: () => number,
): Promise<string> {
  const { openDatastoreBackend } = await import('./ipam-plugin.ts');
  const backend = await openDatastoreBackend(conf.ipam, env);
  try {
    return await execute(command, conf, env, backend, now);
  } finally {
    await backend.close();
  }
}

/** One plugin invocation, with no process globals: tests and the bench call it in-process. */
export async function runPlugin(
  env: NodeJS.ProcessEnv,
  stdin: string,
  options: PluginOptions = {},
): Promise<PluginOutput> {
  const cniVersion = peekVersion(stdin);
  if (env.CNI_COMMAND === 'VERSION') return versionOutput(cniVersion);
  const now = options.now ?? Date.now;
  let note = '';
  try {
    const command = commandOf(env.CNI_COMMAND);
    const conf = parseNetConf(stdin);
    const socket = socketOf(conf, env);
    if (socket !== undefined) {
      const daemon = new DaemonClient(socket, options.daemonTimeoutMs);
      try {
        return { stdout: await execute(command, conf, env, daemon, now), stderr: '', exitCode: 0 };
      } catch (error) {
        if (!(error instanceof DaemonUnavailable)) throw error;
        note = `brindle-ipam: ${error.message}; using the datastore\n`;
      }
    }
    const stdout = options.direct
      ? await options.direct(env, stdin)
      : await executeDirect(command, conf, env, now);
    return { stdout, stderr: note, exitCode: 0 };
  } catch (error) {
    return errorOutput(cniVersion, withoutStack(error), note);
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
    output = errorOutput(DEFAULT_CNI_VERSION, withoutStack(error));
  }
  process.stderr.write(output.stderr);
  await new Promise<void>((resolve) => process.stdout.write(output.stdout, () => resolve()));
  return output.exitCode;
}

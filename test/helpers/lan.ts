/**
 * A bridged L2 segment for multi-host tests: one subnet where every host, the test process included,
 * is directly connected to every other, so next hops of reflected routes resolve for every daemon.
 *
 * The bridge lives in a "switch" namespace of its own rather than in the root namespace: the root
 * namespace then holds only the test process's own veth end (if it joins), deleting the switch
 * namespace tears every port down at once, and nothing on the host (bridge netfilter, a firewall) sees
 * the segment's frames. Each host is a namespace with one veth (`eth0`) into the bridge; the test
 * process joins as one more host through rootAddress().
 *
 * Host `index` gets `<subnet4 network + index>/len` and `<subnet6 prefix>::<index>` written with the
 * index's decimal digits, so host 12 is 100.64.X.12 and fd00:X::12. Names embed the pid (netns.ts)
 * and the tag, so test files running in parallel never share a namespace, bridge or interface.
 */
import { Cleanup, createNetns, createVeth, run } from './netns.ts';

export interface LanOptions {
  /** Short, unique per test file: part of every namespace name. */
  readonly tag: string;
  /** `100.64.X.0/24`. */
  readonly subnet4: string;
  /** `fd00:X::/64`. */
  readonly subnet6: string;
}

export interface LanHost {
  /** The host's namespace; undefined for the test process's own (root namespace) host. */
  readonly netns: string | undefined;
  /** The host's interface on the segment. */
  readonly ifname: string;
  readonly index: number;
  readonly address4: string;
  readonly address6: string;
}

export interface Lan {
  readonly tag: string;
  /** The namespace holding the bridge. */
  readonly switchNetns: string;
  readonly bridge: string;
  /** Every task that undoes this segment; the caller's Cleanup when one was passed. */
  readonly cleanup: Cleanup;
  readonly hosts: ReadonlyMap<number, LanHost>;
  /** The address host `index` has (or will have), without prefix length. */
  address4(index: number): string;
  address6(index: number): string;
  /** A new namespace `brindle-<pid>-<tag>-<name>` on the segment as host `index`, interface `eth0`. */
  addHost(name: string, index: number): Promise<LanHost>;
  /**
   * Puts an existing namespace on the segment as host `index` through interface `ifname` (e.g. a ToR
   * that is a host on several segments: one interface name per segment).
   */
  join(netns: string, index: number, ifname: string): Promise<LanHost>;
  /** Puts the test process itself on the segment as host `index` (a veth from the root namespace). */
  rootAddress(index: number): Promise<LanHost>;
}

const BRIDGE = 'br0';

interface Subnet6 {
  /** The text before the host part: `fd00:20::`. */
  readonly base: string;
  readonly length: number;
}

/** `100.64.20.0/24` → the network as a number and its length. */
function parseSubnet4(subnet: string): { network: number; length: number } {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!match) throw new Error(`not an IPv4 subnet: ${subnet}`);
  const octets = match.slice(1, 5).map(Number);
  const network = octets.reduce((n, o) => n * 256 + o, 0);
  return { network, length: Number(match[5]) };
}

function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** `fd00:20::/64` → the text before the host part (`fd00:20::`) and the length. */
function parseSubnet6(subnet: string): Subnet6 {
  const match = /^([0-9a-f:]+::)\/(\d+)$/i.exec(subnet);
  if (!match) throw new Error(`not an IPv6 subnet ending in "::": ${subnet}`);
  return { base: match[1], length: Number(match[2]) };
}

export async function createLan(options: LanOptions, cleanup?: Cleanup): Promise<Lan> {
  const own = cleanup === undefined;
  const tasks = cleanup ?? new Cleanup();
  try {
    return await buildLan(options, tasks);
  } catch (error) {
    // Without a caller's Cleanup nobody else could undo a half-built segment.
    if (own) await tasks.run().catch(() => undefined);
    throw error;
  }
}

async function buildLan(options: LanOptions, cleanup: Cleanup): Promise<Lan> {
  const v4 = parseSubnet4(options.subnet4);
  const v6 = parseSubnet6(options.subnet6);
  const hostLimit = 2 ** (32 - v4.length) - 1;
  const switchNetns = await createNetns(`${options.tag}-sw`, cleanup);
  await run('ip', ['-n', switchNetns, 'link', 'add', BRIDGE, 'type', 'bridge', 'stp_state', '0']);
  // Without an MLD querier, snooping can stop forwarding IPv6 neighbour discovery between ports.
  await run('ip', ['-n', switchNetns, 'link', 'set', BRIDGE, 'type', 'bridge', 'mcast_snooping', '0']);
  await run('ip', ['-n', switchNetns, 'link', 'set', BRIDGE, 'up']);

  const hosts = new Map<number, LanHost>();
  const taken = new Set<number>();
  const address4 = (index: number): string => {
    if (!Number.isInteger(index) || index < 1 || index >= hostLimit)
      throw new Error(`host index ${index} outside ${options.subnet4}`);
    return formatIpv4(v4.network + index);
  };
  const address6 = (index: number): string => `${v6.base}${index}`;

  /** A veth from `netns` (the root namespace when undefined) to a bridge port. */
  const attach = async (netns: string | undefined, ifname: string | undefined, index: number) => {
    // Reserved before the first await, so two concurrent calls cannot both take it.
    if (taken.has(index)) throw new Error(`host index ${index} is taken on ${options.tag}`);
    taken.add(index);
    const port = `p${index}`;
    const [hostIfname] = await createVeth(
      {
        netns,
        ifname,
        addresses: [`${address4(index)}/${v4.length}`, `${address6(index)}/${v6.length}`],
      },
      { netns: switchNetns, ifname: port },
      cleanup,
    );
    await run('ip', ['-n', switchNetns, 'link', 'set', port, 'master', BRIDGE]);
    const host: LanHost = {
      netns,
      ifname: hostIfname,
      index,
      address4: address4(index),
      address6: address6(index),
    };
    hosts.set(index, host);
    return host;
  };

  return {
    tag: options.tag,
    switchNetns,
    bridge: BRIDGE,
    cleanup,
    hosts,
    address4,
    address6,
    addHost: async (name, index) =>
      attach(await createNetns(`${options.tag}-${name}`, cleanup), 'eth0', index),
    join: (netns, index, ifname) => attach(netns, ifname, index),
    // createVeth names the root end from the pid and a counter, unique in the root namespace, and
    // registers its deletion; deleting the switch namespace removes it too.
    rootAddress: (index) => attach(undefined, undefined, index),
  };
}

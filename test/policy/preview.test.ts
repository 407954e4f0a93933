// The route preview tells the truth: a real daemon (reflector mode, its API on a control socket) peers
// with a BIRD 2 ToR in a network namespace this file creates; `brindlectl apply --dry-run -o json`
// previews a BGPFilter edit; then the edit is applied for real, and what BIRD holds from Brindle
// (read with `birdc`) and what Brindle accepts from BIRD (its Loc-RIB) change exactly as the preview
// announced: the same prefixes advertised, withdrawn, sent with other attributes, dropped and
// accepted on import — and no session reset. A second daemon, a Calico node, previews adding and then
// removing a serviceClusterIPs range: the routes it would originate show as advertised and withdrawn
// to the ToR, and BIRD then holds exactly that, as it does for the block of an IPPool whose
// disableBGPExport flips; a change that would reset the session says so. Needs root and a built dist/ (bin/brindlectl).

import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/datastore/open.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { IpamClient } from '../../src/ipam/allocator.ts';
import type { Daemon } from '../../src/daemon/daemon.ts';
import { startDaemonApi } from '../../src/main/daemon-api.ts';
import { brindlectlResult, startLoopbackDaemon } from '../helpers/brindle.ts';
import { interopNetwork } from '../helpers/interop.ts';
import { birdProtocolName, startBird } from '../helpers/peers.ts';
import type { PeerOptions } from '../helpers/peers.ts';
import { freePort, waitFor } from '../helpers/netns.ts';

const NET_INDEX = 49;
const NODE_NET_INDEX = 50;
const SERVICE_RANGE = '10.96.0.0/12';
const POOL = '10.68.0.0/16';
const NODE_AS = 64512;
const TOR_AS = 65001;
const ORIGINATED = ['10.70.1.0/24', '10.70.2.0/24', '10.70.9.0/24'];
const FROM_TOR = ['203.0.113.0/24', '203.0.114.0/24', '203.0.115.0/24'];

interface PeerRouteChanges {
  readonly peer: string;
  readonly advertised: string[];
  readonly withdrawn: string[];
  readonly changed: string[];
  readonly importDropped: string[];
  readonly importAccepted: string[];
}

const filterYaml = (exportV4: string, importV4: string) =>
  [
    'apiVersion: projectcalico.org/v3',
    'kind: BGPFilter',
    'metadata: { name: tor }',
    `spec: { exportV4: ${exportV4}, importV4: ${importV4} }`,
    '',
  ].join('\n');

const BEFORE = filterYaml(
  "[{ cidr: '10.70.9.0/24', matchOperator: Equal, action: Reject }]",
  "[{ cidr: '203.0.114.0/24', matchOperator: Equal, action: Reject }]",
);
const AFTER = filterYaml(
  "[{ cidr: '10.70.1.0/24', matchOperator: Equal, action: Reject }, { cidr: '10.70.2.0/24', matchOperator: Equal, action: Accept, operations: [{ addCommunity: { value: '65000:7' } }] }]",
  "[{ cidr: '203.0.113.0/24', matchOperator: Equal, action: Reject }]",
);

/** BIRD's routes from Brindle: prefix → its BGP attribute lines (what Brindle sent, nothing local). */
function sentToTor(birdRoutes: string): Map<string, string> {
  const routes = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of birdRoutes.split('\n')) {
    const prefix = /^(\d+\.\d+\.\d+\.\d+\/\d+)\s/.exec(line)?.[1];
    if (prefix) routes.set(prefix, (current = []));
    const attribute = /^\s+(BGP\.\S+:.*)$/.exec(line)?.[1];
    if (attribute) current?.push(attribute.trim());
  }
  return new Map([...routes].map(([prefix, lines]) => [prefix, lines.join('\n')]));
}

const bgpConfigurationYaml = (extra: string) =>
  [
    'apiVersion: projectcalico.org/v3',
    'kind: BGPConfiguration',
    'metadata: { name: default }',
    `spec: { asNumber: ${NODE_AS}, nodeToNodeMeshEnabled: false${extra} }`,
    '',
  ].join('\n');

const minus = (a: Iterable<string>, b: { has(k: string): boolean }) => [...a].filter((k) => !b.has(k)).sort();

/**
 * A daemon (`mode`) with its API on a control socket, the BGPConfiguration and a BGPPeer for the BIRD
 * ToR in its store, `brindlectl` pointed at both, and the ToR established.
 */
async function scenario(
  t: ExecutionContext,
  netIndex: number,
  mode: 'reflector' | 'node',
  peerFilters: string[],
  firstApply?: string,
) {
  const net = await interopNetwork(netIndex, `preview${netIndex}`);
  t.teardown(() => net.cleanup.run());
  const dir = await mkdtemp(join(tmpdir(), 'brindle-preview-'));
  net.cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const storePath = join(dir, 'store');
  const socket = join(dir, 'brindle.sock');
  const admin = await openStore({ backend: 'lmdb', path: storePath });
  net.cleanup.add(() => admin.close());
  const resources = new ResourceStore(admin);
  const apply = async (resource: object) => {
    const result = await resources.write(resource, 'apply');
    if (!result.ok) throw new Error(result.errors.join('; '));
  };
  await apply({
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: NODE_AS, nodeToNodeMeshEnabled: false },
  });
  await apply({
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeer',
    metadata: { name: 'tor' },
    spec: { peerIP: net.peer4, asNumber: TOR_AS, filters: peerFilters },
  });
  const config = join(dir, 'brindlectl.yaml');
  await writeFile(
    config,
    [
      `nodeName: preview`,
      `datastore: { type: embedded, path: ${storePath} }`,
      `api: { socket: ${socket} }`,
    ].join('\n'),
  );
  const ctl = (...args: string[]) => brindlectlResult(config, ...args);
  /** A file holding `yaml`, for `brindlectl apply -f`. */
  const file = async (name: string, yaml: string) => {
    const path = join(dir, name);
    await writeFile(path, yaml);
    return path;
  };
  if (firstApply) t.is((await ctl('apply', '-f', await file('first.yaml', firstApply))).code, 0);

  const torOptions: PeerOptions = {
    netns: net.netns,
    routerId: '10.255.0.2',
    localAddress: net.peer4,
    asn: TOR_AS,
    neighbors: [{ address: net.brindle4, asn: NODE_AS, families: ['ipv4'] }],
    staticRoutes: FROM_TOR.map((prefix) => ({ prefix })),
  };
  const bird = await startBird(torOptions, net.cleanup);
  const env = {
    BRINDLE_DATASTORE: 'embedded',
    BRINDLE_DATASTORE_PATH: storePath,
    BRINDLE_API_SOCKET: socket,
    BRINDLE_API_LISTEN: `127.0.0.1:${await freePort()}`,
  };
  const daemon: Daemon = await startLoopbackDaemon('preview', net.brindle4, env, mode);
  net.cleanup.add(() => daemon.stop());
  const api = await startDaemonApi(daemon, silentLogger, () => ({ ok: true, level: 'warn' }), 'test');
  net.cleanup.add(() => api.close());
  await bird.waitEstablished(net.brindle4);
  const protocol = birdProtocolName(torOptions, net.brindle4);
  const atTor = async () =>
    sentToTor(await bird.birdc('show', 'route', 'protocol', protocol, 'all').catch(() => ''));
  /** Until Brindle's output is idle and BIRD holds exactly `tor` from it. */
  const torHolds = async (tor: string[], extra: () => boolean = () => true) => {
    const router = daemon.bgp!;
    await router.reimported();
    await waitFor(
      async () =>
        router.adjRibOut.idle && [...(await atTor()).keys()].sort().join() === tor.join() && extra(),
      { timeoutMs: 20_000, what: `BIRD holding ${tor.join(' ')}` },
    );
  };
  return { net, admin, daemon, ctl, file, atTor, torHolds };
}

test.serial('applying a change produces exactly what apply --dry-run announced', async (t) => {
  const { net, daemon, ctl, file, atTor, torHolds } = await scenario(
    t,
    NET_INDEX,
    'reflector',
    ['tor'],
    BEFORE,
  );
  const afterFile = await file('after.yaml', AFTER);
  for (const prefix of ORIGINATED) daemon.originate(prefix, { nextHop: net.brindle4 });

  const accepted = () =>
    new Set(FROM_TOR.filter((p) => daemon.bgp?.locRib.get(parsePrefix(p)!)?.best !== undefined));
  const settled = (tor: string[], fromTor: string[]) =>
    torHolds(tor, () => [...accepted()].sort().join() === fromTor.join());
  await settled(['10.70.1.0/24', '10.70.2.0/24'], ['203.0.113.0/24', '203.0.115.0/24']);
  const torBefore = await atTor();
  const acceptedBefore = accepted();
  const peer = daemon.bgp!.allPeers()[0];
  const establishedSince = peer.counters.establishedSince;

  const dry = await ctl('apply', '-f', afterFile, '--dry-run', '-o', 'json');
  t.is(dry.code, 0, dry.stderr);
  const preview = JSON.parse(dry.stdout) as { routes: { peers: PeerRouteChanges[] } };
  const table = await ctl('apply', '-f', afterFile, '--dry-run');
  t.regex(table.stdout, /^Global_\S+ +\S+ +1 +1 +1 +1 +1$/m, 'the counts per session');
  t.regex(table.stdout, /withdrawn: 10\.70\.1\.0\/24$/m);

  t.is((await ctl('apply', '-f', afterFile)).code, 0);
  await settled(['10.70.2.0/24', '10.70.9.0/24'], ['203.0.114.0/24', '203.0.115.0/24']);
  await waitFor(async () => /\(65000,\s*7\)/.test((await atTor()).get('10.70.2.0/24') ?? ''), {
    timeoutMs: 10_000,
    what: 'the community on 10.70.2.0/24',
  });
  const torAfter = await atTor();
  const acceptedAfter = accepted();

  t.is(preview.routes.peers.length, 1);
  const announced = preview.routes.peers[0];
  const observed = {
    advertised: minus(torAfter.keys(), torBefore),
    withdrawn: minus(torBefore.keys(), torAfter),
    changed: [...torAfter.keys()]
      .filter((p) => torBefore.has(p) && torBefore.get(p) !== torAfter.get(p))
      .sort(),
    importDropped: minus(acceptedBefore, acceptedAfter),
    importAccepted: minus(acceptedAfter, acceptedBefore),
  };
  t.deepEqual(
    {
      advertised: [...announced.advertised].sort(),
      withdrawn: [...announced.withdrawn].sort(),
      changed: [...announced.changed].sort(),
      importDropped: [...announced.importDropped].sort(),
      importAccepted: [...announced.importAccepted].sort(),
    },
    observed,
  );
  t.deepEqual(observed, {
    advertised: ['10.70.9.0/24'],
    withdrawn: ['10.70.1.0/24'],
    changed: ['10.70.2.0/24'],
    importDropped: ['203.0.113.0/24'],
    importAccepted: ['203.0.114.0/24'],
  });
  t.is(peer.counters.establishedSince, establishedSince, 'no session reset');
});

test.serial(
  'a service range or an IPPool block the change originates or withdraws is previewed as such',
  async (t) => {
    const { net, admin, daemon, ctl, file, torHolds } = await scenario(t, NODE_NET_INDEX, 'node', []);
    const peer = daemon.bgp!.allPeers()[0];
    const establishedSince = peer.counters.establishedSince;
    const withRange = await file(
      'with.yaml',
      bgpConfigurationYaml(`, serviceClusterIPs: [{ cidr: '${SERVICE_RANGE}' }]`),
    );
    const withoutRange = await file('without.yaml', bgpConfigurationYaml(''));
    const none = { advertised: [], withdrawn: [], changed: [], importDropped: [], importAccepted: [] };
    const previewOf = async (path: string) => {
      const dry = await ctl('apply', '-f', path, '--dry-run', '-o', 'json');
      t.is(dry.code, 0, dry.stderr);
      const { peers } = (JSON.parse(dry.stdout) as { routes: { peers: PeerRouteChanges[] } }).routes;
      t.is(peers.length, 1);
      const { advertised, withdrawn, changed, importDropped, importAccepted } = peers[0];
      return { advertised, withdrawn, changed, importDropped, importAccepted };
    };
    await torHolds([]);

    t.deepEqual(await previewOf(withRange), { ...none, advertised: [SERVICE_RANGE] });
    t.is((await ctl('apply', '-f', withRange)).code, 0);
    await torHolds([SERVICE_RANGE]);

    t.deepEqual(await previewOf(withoutRange), { ...none, withdrawn: [SERVICE_RANGE] });
    t.is((await ctl('apply', '-f', withoutRange)).code, 0);
    await torHolds([]);

    // A block of this node in an IPPool: flipping the pool's disableBGPExport withdraws its route.
    const poolYaml = (disabled: boolean) =>
      `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: { name: pods }\nspec: { cidr: '${POOL}', disableBGPExport: ${disabled} }\n`;
    t.is((await ctl('apply', '-f', await file('pool.yaml', poolYaml(false)))).code, 0);
    const { ipv4 } = await new IpamClient({ store: admin }).autoAssign({
      node: 'preview',
      handleId: 'k8s-pod-network.pod-1',
      num4: 1,
      intendedUse: 'Workload',
    });
    const block = ipv4[0].block;
    await torHolds([block]);
    const disabled = await file('pool-disabled.yaml', poolYaml(true));
    t.deepEqual(await previewOf(disabled), { ...none, withdrawn: [block] });
    t.is((await ctl('apply', '-f', disabled)).code, 0);
    await torHolds([]);

    // A session the change would reset is said to be reset, not only given its new filters' changes.
    const newAs = await file(
      'new-as.yaml',
      `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: { name: tor }\nspec: { peerIP: '${net.peer4}', asNumber: 65002 }\n`,
    );
    const reset = await ctl('apply', '-f', newAs, '--dry-run');
    t.regex(reset.stdout, /^Global_\S+ would be reset: every route is withdrawn and sent again/m);
    t.is(peer.counters.establishedSince, establishedSince, 'no session reset');
  },
);

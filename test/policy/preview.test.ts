// The route preview tells the truth: a real daemon (reflector mode, its API on a control socket) peers
// with a BIRD 2 ToR in a network namespace this file creates; `brindlectl apply --dry-run -o json`
// previews a BGPFilter edit; then the edit is applied for real, and what BIRD holds from Brindle
// (read with `birdc`) and what Brindle accepts from BIRD (its Loc-RIB) change exactly as the preview
// announced: the same prefixes advertised, withdrawn, sent with other attributes, dropped and
// accepted on import — and no session reset. Needs root and a built dist/ (bin/brindlectl).

import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/datastore/open.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import type { Daemon } from '../../src/daemon/daemon.ts';
import { startDaemonApi } from '../../src/main/daemon-api.ts';
import { brindlectlResult, startLoopbackDaemon } from '../helpers/brindle.ts';
import { interopNetwork } from '../helpers/interop.ts';
import { birdProtocolName, startBird } from '../helpers/peers.ts';
import type { PeerOptions } from '../helpers/peers.ts';
import { freePort, waitFor } from '../helpers/netns.ts';

const NET_INDEX = 47;
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

const minus = (a: Iterable<string>, b: { has(k: string): boolean }) => [...a].filter((k) => !b.has(k)).sort();

test('applying a change produces exactly what apply --dry-run announced', async (t) => {
  const net = await interopNetwork(NET_INDEX, 'preview');
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
    spec: { peerIP: net.peer4, asNumber: TOR_AS, filters: ['tor'] },
  });
  const beforeFile = join(dir, 'before.yaml');
  const afterFile = join(dir, 'after.yaml');
  await writeFile(beforeFile, BEFORE);
  await writeFile(afterFile, AFTER);
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
  t.is((await ctl('apply', '-f', beforeFile)).code, 0);

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
  const daemon: Daemon = await startLoopbackDaemon('preview', net.brindle4, env);
  net.cleanup.add(() => daemon.stop());
  const api = await startDaemonApi(daemon, silentLogger, () => ({ ok: true, level: 'warn' }), 'test');
  net.cleanup.add(() => api.close());
  for (const prefix of ORIGINATED) daemon.originate(prefix, { nextHop: net.brindle4 });
  await bird.waitEstablished(net.brindle4);

  const protocol = birdProtocolName(torOptions, net.brindle4);
  const atTor = async () =>
    sentToTor(await bird.birdc('show', 'route', 'protocol', protocol, 'all').catch(() => ''));
  const accepted = () =>
    new Set(FROM_TOR.filter((p) => daemon.bgp?.locRib.get(parsePrefix(p)!)?.best !== undefined));
  const settled = async (tor: string[], fromTor: string[]) => {
    const router = daemon.bgp!;
    await router.reimported();
    await waitFor(
      async () =>
        router.adjRibOut.idle &&
        [...(await atTor()).keys()].sort().join() === tor.join() &&
        [...accepted()].sort().join() === fromTor.join(),
      { timeoutMs: 20_000, what: `BIRD holding ${tor.join(' ')}, Brindle accepting ${fromTor.join(' ')}` },
    );
  };
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

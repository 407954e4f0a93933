// Five Brindle daemons sharing one datastore (a real etcd, and the embedded store on one host): the
// default full mesh forms its 10 sessions; switching to a route reflector (RR node, BGPPeer, mesh off)
// keeps routes flowing and never resets a session that did not need to change; an etcd outage takes
// no session down, and changes made after it are picked up.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Daemon } from '../../src/daemon/daemon.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import type { Peer } from '../../src/bgp/session/peer.ts';
import { openStore } from '../../src/datastore/open.ts';
import type { StoreConfig } from '../../src/datastore/open.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { startEtcd } from '../helpers/etcd.ts';
import { waitFor } from '../helpers/netns.ts';
import { startLoopbackDaemon } from '../helpers/brindle.ts';

const NODES = 5;
const PORT = 17_990;
const block = 30 + (process.pid % 150);
const nodeIp = (i: number) => `127.${block}.${i}.1`;

interface Cluster {
  daemons: Daemon[];
  admin: ResourceStore;
}

function peersOf(d: Daemon): Peer[] {
  return d.bgp?.allPeers() ?? [];
}

function established(d: Daemon): Peer[] {
  return peersOf(d).filter((p) => p.state === SessionState.Established);
}

/** Every session of the cluster, as "node-a<->node-b", counted once. */
function sessions(c: Cluster): Set<string> {
  const out = new Set<string>();
  c.daemons.forEach((d, i) => {
    for (const p of established(d)) {
      const j = c.daemons.findIndex((_, k) => nodeIp(k + 1) === p.config.remoteAddress);
      out.add([i + 1, j + 1].sort().join('<->'));
    }
  });
  return out;
}

/** Establishment counts of every session now up, to prove later that none was reset. */
function establishments(c: Cluster): Map<string, number> {
  const out = new Map<string, number>();
  c.daemons.forEach((d, i) => {
    for (const p of established(d))
      out.set(`${i + 1}->${p.config.remoteAddress}`, p.counters.establishedCount);
  });
  return out;
}

async function startCluster(
  t: ExecutionContext,
  datastore: StoreConfig,
  env: Record<string, string>,
): Promise<Cluster> {
  const adminStore = await openStore(datastore);
  const admin = new ResourceStore(adminStore);
  const written = await admin.write(
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'BGPConfiguration',
      metadata: { name: 'default' },
      spec: { asNumber: 64512, listenPort: PORT },
    },
    'apply',
  );
  t.true(written.ok);
  const daemons: Daemon[] = [];
  t.teardown(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await adminStore.close();
  });
  for (let i = 1; i <= NODES; i++) daemons.push(await startLoopbackDaemon(`node-${i}`, nodeIp(i), env));
  return { daemons, admin };
}

async function originateAll(c: Cluster): Promise<void> {
  c.daemons.forEach((d, i) => d.originate(`10.200.${i + 1}.0/26`, { nextHop: nodeIp(i + 1) }));
  await waitFor(() => c.daemons.every((d) => d.bgp!.locRib.destCount === NODES), {
    timeoutMs: 15_000,
    what: 'every node to hold every block',
  });
}

async function apply(c: Cluster, resource: object): Promise<void> {
  const result = await c.admin.write(resource, 'apply');
  if (!result.ok) throw new Error(result.errors.join('; '));
}

async function meshToReflector(t: ExecutionContext, c: Cluster): Promise<void> {
  // The full mesh: 5 nodes, 10 sessions, every block everywhere.
  await waitFor(() => sessions(c).size === 10, {
    timeoutMs: 20_000,
    what: 'the 10 sessions of the full mesh',
  });
  await originateAll(c);
  const clientPairs = (m: Map<string, number>) =>
    new Map([...m].filter(([k]) => !k.startsWith('1->') && !k.endsWith(nodeIp(1))));
  const before = clientPairs(establishments(c));
  t.is(before.size, 12, 'the 6 sessions among nodes 2-5, seen from both ends');

  // 1. node-1 becomes a route reflector: it leaves the mesh; sessions among the others stay.
  const rr = (await c.admin.get('Node', 'node-1')) as { spec: object; metadata: object };
  await apply(c, {
    ...rr,
    metadata: { name: 'node-1', labels: { 'route-reflector': 'true' } },
    spec: { ...rr.spec, bgp: { ipv4Address: `${nodeIp(1)}/32`, routeReflectorClusterID: '10.0.0.100' } },
  });
  await waitFor(() => sessions(c).size === 6, { timeoutMs: 15_000, what: 'node-1 to leave the mesh' });
  // 2. every node peers with the reflector.
  await apply(c, {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeer',
    metadata: { name: 'to-reflectors' },
    spec: { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" },
  });
  await waitFor(() => sessions(c).size === 10, { timeoutMs: 15_000, what: 'sessions to the reflector' });
  t.deepEqual(clientPairs(establishments(c)), before, 'no session among nodes 2-5 was reset');
  const reflectorSessions = new Map(
    [...establishments(c)].filter(([k]) => k.startsWith('1->') || k.endsWith(nodeIp(1))),
  );
  // 3. the mesh goes: only the reflector's sessions remain, and none of them is reset.
  await apply(c, {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: 64512, listenPort: PORT, nodeToNodeMeshEnabled: false },
  });
  await waitFor(() => sessions(c).size === 4, { timeoutMs: 15_000, what: 'the mesh to go' });
  t.deepEqual(
    new Map([...establishments(c)].filter(([k]) => reflectorSessions.has(k))),
    reflectorSessions,
    'no reflector session was reset',
  );
  t.true(peersOf(c.daemons[0]).every((p) => p.config.name.startsWith('Node_')));
  // Routes still reach every node, now through the reflector.
  await waitFor(() => c.daemons.every((d) => d.bgp!.locRib.destCount === NODES), {
    timeoutMs: 15_000,
    what: 'every block everywhere through the reflector',
  });
  // The mesh path is withdrawn at once, but the best path is re-decided on the next turn: wait for it.
  const viaReflector = () =>
    c.daemons[1].bgp!.locRib.get({
      afi: 1,
      length: 26,
      w0: (10 << 24) | (200 << 16) | (3 << 8),
      w1: 0,
      w2: 0,
      w3: 0,
    })?.best?.attrs.attributes.clusterList?.[0] === 0x0a000064;
  await waitFor(viaReflector, {
    timeoutMs: 15_000,
    what: "node-3's block at node-2 to be learned through the reflector",
  });
  t.true(viaReflector(), 'learned through the reflector');
}

test.serial('etcd: full mesh, then route reflector, with no needless session reset', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.stop());
  const cluster = await startCluster(
    t,
    { backend: 'etcd', endpoints: [etcd.endpoint] },
    { BRINDLE_DATASTORE: 'etcd', BRINDLE_ETCD_ENDPOINTS: etcd.endpoint },
  );
  await meshToReflector(t, cluster);

  // etcd dies: every session stays up. It comes back: a change made then is picked up.
  const before = establishments(cluster);
  await etcd.kill();
  await new Promise((r) => setTimeout(r, 2000));
  t.deepEqual(establishments(cluster), before, 'no session went down with the datastore');
  await etcd.restart();
  await apply(cluster, {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeer',
    metadata: { name: 'tor' },
    spec: { peerIP: '127.0.0.99', asNumber: 65001 },
  });
  await waitFor(
    () => cluster.daemons.every((d) => peersOf(d).some((p) => p.config.remoteAddress === '127.0.0.99')),
    { timeoutMs: 20_000, what: 'the new BGPPeer on every node after the outage' },
  );
  t.deepEqual(
    new Map([...establishments(cluster)].filter(([k]) => before.has(k))),
    before,
    'adding a peer reset nothing else',
  );
});

test.serial('embedded store on one host: the same switch', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-cluster-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'store');
  const cluster = await startCluster(
    t,
    { backend: 'lmdb', path },
    { BRINDLE_DATASTORE: 'embedded', BRINDLE_DATASTORE_PATH: path },
  );
  await meshToReflector(t, cluster);
});

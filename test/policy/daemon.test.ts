// The daemon applies BGPFilters from the datastore: two Brindle daemons on loopback sharing the
// embedded store, peered by a BGPPeer. Naming a filter in BGPPeer.filters, and editing the BGPFilter
// itself, change which routes cross without resetting the session; a filter that does not exist is
// ignored and shown as the peer's last error.

import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Daemon } from '../../src/daemon/daemon.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { openStore } from '../../src/datastore/open.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { waitFor } from '../helpers/netns.ts';
import { startLoopbackDaemon } from '../helpers/brindle.ts';

const PORT = 17_970;
const block = 180 + (process.pid % 70);
const nodeIp = (i: number) => `127.${block}.${i}.1`;
const DROPPED = '10.200.9.0/26';

function bgpPeer(filters: string[]) {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeer',
    metadata: { name: 'pair' },
    spec: { nodeSelector: 'all()', peerSelector: 'all()', filters },
  };
}

function bgpFilter(rules: object[]) {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPFilter',
    metadata: { name: 'drop-9' },
    spec: { exportV4: rules },
  };
}

test('BGPPeer.filters and BGPFilter edits act on routes without a session reset', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-policy-'));
  const path = join(dir, 'store');
  const adminStore = await openStore({ backend: 'lmdb', path });
  const admin = new ResourceStore(adminStore);
  const daemons: Daemon[] = [];
  t.teardown(async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await adminStore.close();
    await rm(dir, { recursive: true, force: true });
  });
  const apply = async (resource: object) => {
    const result = await admin.write(resource, 'apply');
    if (!result.ok) throw new Error(result.errors.join('; '));
  };
  await apply({
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: 64512, listenPort: PORT, nodeToNodeMeshEnabled: false },
  });
  await apply(bgpFilter([{ cidr: DROPPED, matchOperator: 'Equal', action: 'Reject' }]));
  await apply(bgpPeer([]));
  const env = { BRINDLE_DATASTORE: 'embedded', BRINDLE_DATASTORE_PATH: path };
  for (const i of [1, 2]) daemons.push(await startLoopbackDaemon(`node-${i}`, nodeIp(i), env));
  const [one, two] = daemons;
  const peerOfOne = () => one.bgp?.allPeers()[0];
  await waitFor(() => peerOfOne()?.state === SessionState.Established, {
    timeoutMs: 20_000,
    what: 'the session',
  });
  two.originate('10.200.2.0/26', { nextHop: nodeIp(2) });
  two.originate(DROPPED, { nextHop: nodeIp(2) });
  const atOne = (prefix: string) => one.bgp!.locRib.get(parsePrefix(prefix)!)?.best !== undefined;
  await waitFor(() => atOne('10.200.2.0/26') && atOne(DROPPED), {
    timeoutMs: 10_000,
    what: 'both routes at node-1',
  });
  const establishedCount = peerOfOne()!.counters.establishedCount;

  await apply(bgpPeer(['absent', 'drop-9']));
  await waitFor(() => !atOne(DROPPED), { timeoutMs: 10_000, what: 'the filtered route withdrawn' });
  t.true(atOne('10.200.2.0/26'));
  t.regex(peerOfOne()!.counters.lastError, /BGPFilter "absent" does not exist: ignored/);

  await apply(bgpFilter([]));
  await waitFor(() => atOne(DROPPED), { timeoutMs: 10_000, what: 'the route back once the rule is gone' });
  t.is(peerOfOne()!.state, SessionState.Established);
  t.is(peerOfOne()!.counters.establishedCount, establishedCount, 'the session was never reset');
});

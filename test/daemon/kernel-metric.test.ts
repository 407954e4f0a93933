// The kernel metric of a learned route in node mode (calico-routing.md §4.3): a Brindle daemon in node
// mode runs in a network namespace with BIRD as its iBGP peer in a second one; the route BIRD sends is
// installed with metric 2147483647 − LOCAL_PREF (Calico's krt_metric), and a new LOCAL_PREF moves it.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import { ResourceStore } from '../../src/resources/store.ts';
import { tempDir } from '../ipam/support.ts';
import { withDiagnostics } from '../helpers/interop.ts';
import { createLinkedNetns, createNetns, run, startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import { startBird } from '../helpers/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_ADDRESS = '100.64.32.1';
const BIRD_ADDRESS = '100.64.32.2';
const AS = 64512;
const LEARNED = '10.99.0.0/24';
const WAIT_MS = 20_000;

const resource = (kind: string, name: string, spec: object) => ({
  apiVersion: 'projectcalico.org/v3',
  kind,
  metadata: { name },
  spec,
});

/** The metric of Brindle's route to LEARNED in the node's namespace, if it has one. */
async function metricOf(netns: string): Promise<string | undefined> {
  const { stdout } = await run('ip', ['-n', netns, '-4', 'route', 'show', LEARNED, 'proto', '205']);
  return /metric (\d+)/.exec(stdout)?.[1] ?? (stdout.trim() === '' ? undefined : '0');
}

test('a learned route is installed at 2147483647 − LOCAL_PREF, and moves when LOCAL_PREF changes', async (t) => {
  const cleanup = withCleanup(t);
  const birdNetns = await createNetns('metric-bird', cleanup);
  const { netns } = await createLinkedNetns(
    {
      tag: 'metric-node',
      peerNetns: birdNetns,
      addresses: [`${NODE_ADDRESS}/24`],
      peerAddresses: [`${BIRD_ADDRESS}/24`],
    },
    cleanup,
  );
  const dir = await tempDir(t, 'kernel-metric');
  const storePath = join(dir, 'store');
  const store = await openLmdbStore({ path: storePath });
  cleanup.add(() => store.close());
  const resources = new ResourceStore(store);
  for (const r of [
    resource('BGPConfiguration', 'default', { asNumber: AS }),
    resource('BGPPeer', 'bird', { peerIP: BIRD_ADDRESS, asNumber: AS }),
  ]) {
    const written = await resources.write(r, 'apply');
    if (!written.ok) return t.fail(written.errors.join('; '));
  }
  const configFile = join(dir, 'brindle.yaml');
  const config = [
    'mode: node',
    'nodeName: node-a',
    `node: { ipv4Address: ${NODE_ADDRESS}/24 }`,
    `datastore: { type: embedded, path: ${storePath} }`,
    `bgp: { listenAddress: ${NODE_ADDRESS}, listenPort: 179 }`,
    `api: { listen: '127.0.0.1:0', socket: ${join(dir, 'brindle.sock')} }`,
    'fib: { enabled: true, table: 254, keepRoutesOnStop: false }',
    '',
  ];
  await writeFile(configFile, config.join('\n'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BRINDLE_')));
  const daemon = startDaemon(
    process.execPath,
    [join(ROOT, 'bin/brindle'), '--config', configFile],
    { name: 'brindle node-a', netns, cwd: ROOT, env },
    cleanup,
  );
  const normalLocalPref = 2147483647 - 1024;
  const bird = await startBird(
    {
      netns: birdNetns,
      routerId: BIRD_ADDRESS,
      localAddress: BIRD_ADDRESS,
      asn: AS,
      neighbors: [{ address: NODE_ADDRESS, asn: AS, families: ['ipv4'] }],
      staticRoutes: [{ prefix: LEARNED, localPref: normalLocalPref }],
    },
    cleanup,
  );
  let seen = '';
  const diagnostics = () => `last seen: ${seen}\n${daemon.output()}\n${bird.daemon.output()}`;
  const expectMetric = (metric: string, what: string) =>
    withDiagnostics(t, diagnostics, () =>
      waitFor(
        async () => {
          seen = (await run('ip', ['-n', netns, '-4', 'route', 'show'])).stdout;
          seen += await bird.birdc('show', 'route', 'all');
          return (await metricOf(netns)) === metric;
        },
        { timeoutMs: WAIT_MS, intervalMs: 100, what },
      ),
    );

  await expectMetric('1024', 'the normal LOCAL_PREF: the normal priority, Felix’s metric');
  t.is(await metricOf(netns), '1024');
  await bird.announceRoute({ prefix: LEARNED, localPref: normalLocalPref + 512 });
  await expectMetric('512', 'an elevated priority');
  t.is(await metricOf(netns), '512');
  const { stdout } = await run('ip', ['-n', netns, '-4', 'route', 'show', LEARNED]);
  t.is(stdout.trim().split('\n').length, 1, 'the route at the old metric is gone');
});

// The real Prometheus (Debian's 2.42, run in the foreground) scrapes a running Brindle — a route
// reflector with two loopback speakers exchanging routes — every second, and the values are read back
// through Prometheus' query API: what an operator's dashboard would see.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Origin } from '../../src/bgp/constants.ts';
import { freePort, startDaemon, waitFor, withCleanup } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import { routerSource } from '../../src/metrics/source.ts';
import { FIXTURE_PREFIXES, reflectorFixture, startApi } from '../api/support.ts';

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

async function query(base: string, promql: string): Promise<Sample[]> {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`, {
    signal: AbortSignal.timeout(2000),
  });
  const body = (await response.json()) as { status: string; data: { result: Sample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error}`);
  return body.data.result;
}

/** Polls a query until `check` accepts its result (Prometheus needs a scrape or two to see changes). */
function eventually(base: string, promql: string, check: (samples: Sample[]) => boolean, what: string) {
  return waitFor(
    async () => {
      const samples = await query(base, promql);
      return check(samples) ? samples : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 500, what },
  );
}

const value = (s: Sample) => Number(s.value[1]);

test('Prometheus scrapes session state, update counters and Loc-RIB sizes', async (t) => {
  const cleanup = withCleanup(t);
  const fixture = await reflectorFixture(t);
  const source = routerSource(fixture.router);
  const { api } = await startApi(t, source, { metrics: new BrindleMetrics(source) });
  const target = `127.0.0.1:${api.address!.port}`;

  const dir = await mkdtemp(join(tmpdir(), 'brindle-prom-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: brindle',
      '    scrape_interval: 1s',
      '    scrape_timeout: 900ms',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const prometheus = startDaemon(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { name: 'prometheus', cwd: dir },
    cleanup,
  );
  await waitFor(
    async () => {
      if (!prometheus.running()) throw new Error(`prometheus exited:\n${prometheus.output()}`);
      const res = await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    },
    { timeoutMs: 20_000, intervalMs: 200, what: 'Prometheus to be ready' },
  );

  const up = await eventually(
    base,
    'up{job="brindle"}',
    (s) => s.length === 1 && value(s[0]) === 1,
    'the target up',
  );
  t.is(up[0].metric.instance, target);

  const established = await eventually(
    base,
    'brindle_bgp_session_state{state="Established"} == 1',
    (s) => s.length === 2,
    'both sessions Established',
  );
  t.deepEqual(
    established.map((s) => s.metric.peer.split('_')[0]).sort(),
    ['Mesh', 'Node'],
    'one series per peer, labelled with its configured name',
  );
  const other = await query(base, 'sum(brindle_bgp_session_state{state!="Established"})');
  t.is(value(other[0]), 0, 'one-hot: no other state is set');

  const updates = await query(base, 'brindle_bgp_updates_received_total');
  t.is(updates.length, 2);
  t.true(
    updates.every((s) => value(s) > 0),
    'UPDATEs received from both speakers',
  );
  const sent = await query(base, 'brindle_bgp_messages_sent_total{type="update"}');
  t.true(
    sent.every((s) => value(s) > 0),
    'UPDATEs reflected to both speakers',
  );

  const v4 = await eventually(
    base,
    'brindle_rib_prefixes{family="ipv4-unicast"}',
    (s) => s.length === 1 && value(s[0]) === FIXTURE_PREFIXES - 1,
    'the Loc-RIB IPv4 prefix count',
  );
  t.is(value(v4[0]), FIXTURE_PREFIXES - 1);
  const v6 = await query(base, 'brindle_rib_prefixes{family="ipv6-unicast"}');
  t.is(value(v6[0]), 1);
  const received = await query(base, 'sum by (family) (brindle_bgp_prefixes_received)');
  t.deepEqual(
    Object.fromEntries(received.map((s) => [s.metric.family, value(s)])),
    { 'ipv4-unicast': 6, 'ipv6-unicast': 1 },
    'per-peer received paths add up to what the speakers announced',
  );

  // A new route: the best-path change counter and the prefix gauge move on the next scrape.
  const a = fixture.speakers[0].address;
  announce(fixture.remotes[0], [
    { prefix: '10.244.77.0/24', attributes: { origin: Origin.Igp, asPath: [], nextHop: a } },
  ]);
  await eventually(
    base,
    'brindle_rib_prefixes{family="ipv4-unicast"}',
    (s) => s.length === 1 && value(s[0]) === FIXTURE_PREFIXES,
    'the new prefix counted',
  );
  await eventually(
    base,
    'brindle_rib_best_path_changes_total{family="ipv4-unicast"}',
    (s) => s.length === 1 && value(s[0]) >= 1,
    'the best-path change counted',
  );
  const groups = await query(base, 'brindle_adj_rib_out_update_groups');
  t.true(value(groups[0]) >= 1);
  const cpu = await query(base, 'process_cpu_seconds_total{job="brindle"}');
  t.is(cpu.length, 1, 'the process_* series are exported');
});

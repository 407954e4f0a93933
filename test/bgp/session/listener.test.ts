// Connections from addresses no peer is configured for: closed at once, counted in
// brindle_bgp_unconfigured_connections_total, and logged rate-limited per source with a summary line.
import test from 'ava';
import net from 'node:net';
import { BehaviorSubject } from 'rxjs';
import {
  BgpListener,
  UnconfiguredConnectionLog,
  unconfiguredConnectionsTotal,
} from '../../../src/bgp/session/listener.ts';
import { ManualClock } from '../../../src/lib/clock.ts';
import { BrindleMetrics } from '../../../src/metrics/registry.ts';
import { LogCapture } from '../../api/support.ts';
import { loopbackAddress, TEST_PORT } from '../../helpers/session.ts';

test('500 connections from 3 sources: 3 lines and one summary naming the busiest sources', (t) => {
  const capture = new LogCapture();
  const clock = new ManualClock();
  const log = new UnconfiguredConnectionLog(capture.log, clock, 60_000);
  const before = unconfiguredConnectionsTotal();
  for (let i = 0; i < 500; i++)
    log.record(i % 10 === 0 ? '192.0.2.2' : i % 2 === 0 ? '192.0.2.1' : '192.0.2.3');
  t.is(capture.events('unknown-peer').length, 3, 'the first connection of each source');
  t.is(capture.events('unknown-peer-summary').length, 0, 'no summary before the interval ends');
  clock.advance(60_000);
  const [summary] = capture.events('unknown-peer-summary');
  t.is(summary.connections, 500);
  t.is(summary.sources, 3);
  t.deepEqual(summary.top, ['192.0.2.3 (250)', '192.0.2.1 (200)', '192.0.2.2 (50)']);
  t.regex(
    String(summary.msg),
    /^500 connections from unconfigured addresses in the last 60 s: top sources 192\.0\.2\.3/,
  );
  t.is(unconfiguredConnectionsTotal() - before, 500);
  clock.advance(60_000);
  t.is(capture.events('unknown-peer-summary').length, 1, 'a quiet interval says nothing');
  log.close();
});

test('many sources: at most 5 lines per interval, the rest in the summary; a new interval logs again', (t) => {
  const capture = new LogCapture();
  const clock = new ManualClock();
  const log = new UnconfiguredConnectionLog(capture.log, clock, 60_000);
  for (let i = 0; i < 300; i++) log.record(`198.51.100.${i % 250}`);
  t.is(capture.events('unknown-peer').length, 5);
  clock.advance(60_000);
  t.is(capture.events('unknown-peer-summary')[0].connections, 300);
  t.is(capture.events('unknown-peer-summary')[0].sources, 250);
  log.record('198.51.100.1');
  t.is(capture.events('unknown-peer').length, 6);
  clock.advance(60_000);
  t.is(capture.events('unknown-peer-summary').length, 1, 'everything was logged one by one');
  log.close();
});

test('a listener with no peers closes every connection fast, counts it, and logs a handful of lines', async (t) => {
  const capture = new LogCapture();
  const address = loopbackAddress();
  const listener = new BgpListener(address, TEST_PORT, () => undefined, capture.log);
  await listener.listen();
  const metrics = new BrindleMetrics(
    { bgp: undefined, router$: new BehaviorSubject(undefined) },
    { processMetrics: false },
  );
  t.teardown(async () => {
    metrics.close();
    await listener.close();
  });
  const before = unconfiguredConnectionsTotal();
  const closedMs: number[] = [];
  for (let i = 0; i < 50; i++) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const socket = net.connect({ host: address, port: TEST_PORT, localAddress: '127.0.0.1' });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
      socket.setTimeout(5_000, () => socket.destroy());
    });
    closedMs.push(performance.now() - start);
  }
  t.is(listener.rejectedUnknown, 50);
  t.is(unconfiguredConnectionsTotal() - before, 50);
  t.is(capture.events('unknown-peer').length, 1, 'one source, one line until the summary');
  t.true(Math.max(...closedMs) < 5_000, 'every connection was closed by the listener');
  const text = (await metrics.exposition()).body;
  const line = text.split('\n').find((l) => l.startsWith('brindle_bgp_unconfigured_connections_total '));
  t.true(Number(line?.split(' ')[1]) >= 50, line);
});

// RFC 4724 §4.1 per AFI/SAFI, and what the status says of the wait: a family is released once every
// waited-for peer that negotiated it sent its End-of-RIB (while every configured peer is up), without
// waiting for the other families; the status names the peers and families still awaited, the time
// left and, once over, how long the wait lasted.
import test from 'ava';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { SelectionDeferral } from '../../src/rib/selection-deferral.ts';

function deferral(timeSec = 240) {
  const clock = new ManualClock();
  const d = new SelectionDeferral(clock, silentLogger, timeSec);
  const released: number[] = [];
  d.onFamilyReleased((family) => released.push(family));
  let done = 0;
  d.onDone(() => (done += 1));
  return { clock, d, released, done: () => done };
}

test('a family is released when every peer that negotiated it sent its End-of-RIB; the wait ends with the last', (t) => {
  const { d, released, done } = deferral();
  d.expect('a');
  d.expect('b');
  d.configured();
  d.sessionUp('a', [IPV4_UNICAST, IPV6_UNICAST]);
  d.sessionUp('b', [IPV4_UNICAST]);
  d.endOfRib('a', IPV4_UNICAST);
  t.deepEqual(released, [], 'b still owes IPv4');
  t.false(d.released(IPV4_UNICAST));
  d.endOfRib('b', IPV4_UNICAST);
  t.deepEqual(released, [IPV4_UNICAST], 'IPv4 released without waiting for IPv6');
  t.true(d.released(IPV4_UNICAST));
  t.false(d.released(IPV6_UNICAST));
  t.true(d.active);
  t.is(done(), 0);
  d.endOfRib('a', IPV6_UNICAST);
  t.false(d.active);
  t.is(done(), 1);
  t.deepEqual(released, [IPV4_UNICAST], 'the last family ends the whole wait (onDone), not a release');
  t.true(d.released(IPV6_UNICAST));
});

test('the other order: IPv6 complete first is released first', (t) => {
  const { d, released } = deferral();
  d.expect('a');
  d.expect('b');
  d.configured();
  d.sessionUp('a', [IPV4_UNICAST, IPV6_UNICAST]);
  d.sessionUp('b', [IPV4_UNICAST, IPV6_UNICAST]);
  d.endOfRib('a', IPV6_UNICAST);
  d.endOfRib('b', IPV6_UNICAST);
  t.deepEqual(released, [IPV6_UNICAST]);
  d.endOfRib('b', IPV4_UNICAST);
  t.deepEqual(released, [IPV6_UNICAST], 'a still owes IPv4');
  t.true(d.active);
});

test('a configured peer not up yet holds every family: its families are not known before its OPEN', (t) => {
  const { d, released } = deferral();
  d.expect('up');
  d.expect('down');
  d.configured();
  d.sessionUp('up', [IPV4_UNICAST]);
  d.endOfRib('up', IPV4_UNICAST);
  t.deepEqual(released, []);
  t.false(d.released(IPV4_UNICAST));
  d.sessionUp('down', [IPV6_UNICAST]);
  t.deepEqual(released, [IPV4_UNICAST], 'released once the last peer is up and does not owe IPv4');
});

test('a family is released once only, even when its peer goes down and comes back', (t) => {
  const { d, released } = deferral();
  d.expect('a');
  d.expect('b');
  d.configured();
  d.sessionUp('a', [IPV4_UNICAST]);
  d.sessionUp('b', [IPV4_UNICAST, IPV6_UNICAST]);
  d.endOfRib('a', IPV4_UNICAST);
  d.endOfRib('b', IPV4_UNICAST);
  d.sessionDown('b');
  d.sessionUp('b', [IPV4_UNICAST, IPV6_UNICAST]);
  d.endOfRib('b', IPV4_UNICAST);
  t.deepEqual(released, [IPV4_UNICAST]);
  t.true(d.released(IPV4_UNICAST), 'a released family stays released');
});

test('the status: peers and families awaited, time left; once over, how long and why', (t) => {
  const { clock, d } = deferral(240);
  d.expect('10.0.0.1');
  d.expect('10.0.0.2');
  d.configured();
  d.sessionUp('10.0.0.1', [IPV4_UNICAST, IPV6_UNICAST]);
  clock.advance(40_000);
  d.endOfRib('10.0.0.1', IPV6_UNICAST);
  const running = d.status;
  t.true(running.active);
  t.is(running.elapsedSec, 40);
  t.is(running.remainingSec, 200);
  t.is(running.durationSec, undefined);
  t.deepEqual(running.awaited, [
    { peer: '10.0.0.1', established: true, endOfRibAwaited: ['ipv4-unicast'] },
    { peer: '10.0.0.2', established: false, endOfRibAwaited: [] },
  ]);
  t.deepEqual(running.releasedFamilies, []);
  clock.advance(200_000);
  const over = d.status;
  t.false(over.active);
  t.is(over.durationSec, 240);
  t.is(over.remainingSec, 0);
  t.is(over.reason, 'Selection_Deferral_Timer expired');
  t.deepEqual(over.awaited, []);
  t.deepEqual(over.releasedFamilies, ['ipv4-unicast', 'ipv6-unicast']);
  clock.advance(60_000);
  t.is(d.status.durationSec, 240, 'the duration stays that of the wait');
  t.is(d.status.elapsedSec, 300);
});

// A configured peer that cannot be reached: its Idle/Connect/Active cycle is logged at debug, with one
// info line when it becomes unreachable and one a minute while it stays so; a session leaving
// Established is a warning with its reason.
import test from 'ava';
import { Peer } from '../../../src/bgp/session/peer.ts';
import { peerConfig } from '../../../src/bgp/session/peer-config.ts';
import { parseIpv4 } from '../../../src/lib/address.ts';
import { SessionState } from '../../../src/bgp/session/fsm.ts';
import { ManualClock, systemClock } from '../../../src/lib/clock.ts';
import { LogCapture } from '../../api/support.ts';
import { loopbackAddress, speaker, TEST_PORT, waitForState } from '../../helpers/session.ts';

const UNUSED_PORT = 17_979;

test('an unreachable peer: retries at debug, an info line at once and then once a minute', async (t) => {
  const capture = new LogCapture('debug');
  const clock = new ManualClock();
  const local = loopbackAddress();
  const config = peerConfig({
    name: 'unreachable',
    remoteAddress: loopbackAddress(), // nothing listens there: every attempt is refused at once
    remotePort: UNUSED_PORT,
    localAddress: local,
    localAs: 64512,
    peerAs: 64512,
    routerId: parseIpv4('10.0.0.1'),
    timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 5, idleHoldTimeSec: 5, maxIdleHoldTimeSec: 5 },
  });
  const peer = new Peer(config, clock, capture.log);
  t.teardown(() => peer.close());
  peer.start();
  // Five simulated minutes, bounded: each step moves the clock 5 s and lets the socket fail.
  for (let step = 0; step < 60; step++) {
    await new Promise((resolve) => setTimeout(resolve, 15));
    clock.advance(5_000);
  }
  await new Promise((resolve) => setTimeout(resolve, 15));
  const states = capture.lines.filter((l) => l.event === 'state');
  const unreachable = capture.events('unreachable');
  t.true(peer.counters.connectAttempts >= 10, `${peer.counters.connectAttempts} attempts`);
  t.true(states.length >= 20, 'every state change is still logged');
  t.true(
    states.every((l) => l.level === 20),
    'at debug',
  );
  t.true(unreachable.length >= 4 && unreachable.length <= 6, `${unreachable.length} info lines in 5 minutes`);
  t.true(unreachable.every((l) => l.level === 30 && typeof l.reason === 'string' && l.reason !== ''));
  t.regex(String(unreachable.at(-1)?.msg), /^peer unreachable unreachable for \d+ s, last error: /);
  peer.stop();
  t.is(capture.events('unreachable').length, unreachable.length, 'an administrative stop is no failure');
});

test('a session leaving Established is a warning with its reason', async (t) => {
  const capture = new LogCapture('debug');
  const remote = await speaker();
  t.teardown(() => remote.close());
  const local = loopbackAddress();
  const peer = new Peer(
    peerConfig({
      name: 'established',
      remoteAddress: remote.address,
      remotePort: TEST_PORT,
      localAddress: local,
      localAs: 64512,
      peerAs: 64512,
      routerId: parseIpv4('10.0.0.7'),
      timers: { connectDelayTimeSec: 0, connectRetryTimeSec: 1, idleHoldTimeSec: 1 },
    }),
    systemClock,
    capture.log,
  );
  t.teardown(() => peer.close());
  const theirs = remote.peerWith(local, { localAs: 64512, peerAs: 64512, passive: true });
  peer.start();
  await waitForState(peer, SessionState.Established);
  theirs.stop();
  await waitForState(peer, SessionState.Idle);
  const down = capture.lines.find((l) => l.event === 'state' && l.from === SessionState.Established);
  t.is(down?.level, 40, 'warn');
  t.regex(String(down?.reason), /Cease/);
  t.deepEqual(capture.events('unreachable'), [], 'an established session is no connect failure');
});

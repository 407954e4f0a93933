// RFC 4724 §4.1, the Restarting Speaker's wait, on a hand-driven clock: it ends when every expected
// peer sent End-of-RIB for each family it waits for, or when the Selection_Deferral_Timer fires;
// peers without the capability, with their own Restart State bit, or removed are not waited for.
import test from 'ava';
import { ManualClock } from '../../src/lib/clock.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { SelectionDeferral } from '../../src/rib/selection-deferral.ts';

const V4 = 0x10001;
const V6 = 0x20001;

function deferral(timeSec = 240) {
  const clock = new ManualClock();
  const d = new SelectionDeferral(clock, silentLogger, timeSec);
  let done = 0;
  d.onDone(() => (done += 1));
  return { clock, d, done: () => done };
}

test('ends once every peer sent End-of-RIB for every family it negotiated', (t) => {
  const { d, done } = deferral();
  d.expect('a');
  d.expect('b');
  d.configured();
  d.sessionUp('a', [V4, V6]);
  d.sessionUp('b', [V4]);
  d.endOfRib('a', V4);
  d.endOfRib('b', V4);
  t.true(d.active, 'a still owes IPv6');
  t.deepEqual(d.status.waitingFor, ['a']);
  d.endOfRib('a', V6);
  t.false(d.active);
  t.is(done(), 1);
  t.is(d.status.reason, 'End-of-RIB received from every peer');
});

test('a peer that never comes back holds the wait until the Selection_Deferral_Timer', (t) => {
  const { clock, d, done } = deferral(240);
  d.expect('up');
  d.expect('gone');
  d.configured();
  d.sessionUp('up', [V4]);
  d.endOfRib('up', V4);
  clock.advance(239_999);
  t.true(d.active, 'still waiting for the peer that is not up');
  clock.advance(1);
  t.false(d.active);
  t.is(done(), 1);
  t.is(d.status.reason, 'Selection_Deferral_Timer expired');
});

test('not waited for: no Graceful Restart capability or Restart State bit (undefined), or removed', (t) => {
  const { d, done } = deferral();
  d.expect('plain');
  d.expect('restarting-too');
  d.expect('removed');
  d.configured();
  d.sessionUp('plain', undefined);
  d.sessionUp('restarting-too', undefined);
  t.true(d.active);
  d.forget('removed');
  t.false(d.active);
  t.is(done(), 1);
});

test('no peer yet is no reason to end before the configured peers are known', (t) => {
  const { d } = deferral();
  t.true(d.active);
  d.expect('a');
  d.sessionUp('a', undefined);
  t.true(d.active, 'the configuration has not been applied yet');
  d.configured();
  t.false(d.active);
});

test('a session lost before its End-of-RIB is waited for again; End-of-RIB of a down peer counts for nothing', (t) => {
  const { d } = deferral();
  d.expect('a');
  d.configured();
  d.sessionUp('a', [V4]);
  d.sessionDown('a');
  d.endOfRib('a', V4);
  t.true(d.active, 'End-of-RIB of a session that is down does not count');
  d.sessionUp('a', [V4]);
  d.endOfRib('a', V4);
  t.false(d.active);
});

test('ends once: callbacks run once, later events change nothing, a late onDone runs at once', (t) => {
  const { clock, d, done } = deferral(10);
  d.expect('a');
  d.configured();
  d.finish('the speaker identity changed');
  clock.advance(20_000);
  d.sessionUp('a', [V4]);
  t.is(done(), 1);
  t.is(clock.pendingTimers, 0, 'the timer is cancelled');
  let late = false;
  d.onDone(() => (late = true));
  t.true(late);
});

test('close() stops the timer without running the callbacks (shutdown)', (t) => {
  const { clock, d, done } = deferral(10);
  d.close();
  clock.advance(20_000);
  t.is(done(), 0);
  t.is(clock.pendingTimers, 0);
});

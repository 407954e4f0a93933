// SINCE in `brindlectl status` is when the session went down (or came up): a peer that cannot be
// reached cycles Idle, Connect and Active on every retry, which moves the FSM's state time but not it.
import test from 'ava';
import { PeerCounters } from '../../src/bgp/session/counters.ts';
import { SessionState } from '../../src/bgp/session/fsm.ts';

const { Idle, Connect, Active, OpenSent, OpenConfirm, Established } = SessionState;

test('connect retries move stateSince, not downSince; losing the session does', async (t) => {
  const counters = new PeerCounters();
  const started = counters.downSince;
  const later = () => new Promise((resolve) => setTimeout(resolve, 5));
  for (const [from, to] of [
    [Idle, Connect],
    [Connect, Active],
    [Active, Connect],
    [Connect, Idle],
  ] as const) {
    await later();
    counters.transition(from, to);
    t.is(counters.downSince, started, `${from} -> ${to}`);
  }
  t.true(counters.stateSince > started);
  for (const [from, to] of [
    [Connect, OpenSent],
    [OpenSent, OpenConfirm],
    [OpenConfirm, Established],
  ] as const)
    counters.transition(from, to);
  t.is(counters.downSince, started);
  await later();
  counters.transition(Established, Idle);
  t.true(counters.downSince > started, 'the session went down: SINCE starts again');
  const down = counters.downSince;
  await later();
  counters.transition(Idle, Connect);
  t.is(counters.downSince, down);
});

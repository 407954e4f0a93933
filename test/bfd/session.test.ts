// Two BFD session drivers wired back to back on a manual clock: they come Up, agree on 100 ms after
// the Poll Sequence, and one detects the other's silence within the Detection Time (RFC 5880 §6.8.4).
import test from 'ava';
import { BfdSessionDriver } from '../../src/bfd/session.ts';
import type { BfdStateChange } from '../../src/bfd/session.ts';
import { BfdState, Diag } from '../../src/bfd/packet.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import type { Clock } from '../../src/lib/clock.ts';

const TIMERS = { detectMult: 3, desiredMinTxIntervalUs: 100_000, requiredMinRxIntervalUs: 100_000 };

function pair(clock: ManualClock) {
  let linkUp = true;
  const changes: Record<'a' | 'b', BfdStateChange[]> = { a: [], b: [] };
  const drivers: Record<'a' | 'b', BfdSessionDriver> = {} as never;
  for (const [self, other, discr] of [
    ['a', 'b', 1],
    ['b', 'a', 2],
  ] as const) {
    drivers[self] = new BfdSessionDriver({
      clock,
      localDiscr: discr,
      timers: TIMERS,
      random: () => 0.5,
      send: (p) => {
        if (linkUp) clock.setTimer(1, () => drivers[other].receive(p));
      },
      onStateChange: (c) => changes[self].push(c),
    });
  }
  return { drivers, changes, cut: () => (linkUp = false) };
}

test('two sessions come Up and settle on 100 ms after the Poll Sequence', (t) => {
  const clock = new ManualClock();
  const { drivers, changes } = pair(clock);
  drivers.a.start();
  drivers.b.start();
  clock.advance(3000);
  t.is(drivers.a.state.sessionState, BfdState.Up);
  t.is(drivers.b.state.sessionState, BfdState.Up);
  t.deepEqual(
    changes.a.map((c) => c.to),
    [BfdState.Init, BfdState.Up],
  );
  t.false(drivers.a.state.pollActive);
  t.is(drivers.a.state.txIntervalInForceUs, 100_000);
});

test('silence is detected within detectMult × interval and reported with diag 1', (t) => {
  const clock = new ManualClock();
  const { drivers, changes, cut } = pair(clock);
  drivers.a.start();
  drivers.b.start();
  clock.advance(3000);
  const cutAt = clock.now();
  cut();
  clock.advance(1000);
  const down = changes.a.at(-1)!;
  t.is(down.to, BfdState.Down);
  t.is(down.diag, Diag.ControlDetectionTimeExpired);
  t.true(down.atMs - cutAt <= 300, `detected after ${down.atMs - cutAt} ms`);
  t.is(drivers.a.lastDown, down);
  drivers.a.stop();
  drivers.b.stop();
});

test('transmissions keep the negotiated interval; a stalled timer counts as late (§6.8.7)', (t) => {
  const clock = new ManualClock();
  const { drivers } = pair(clock);
  drivers.a.start();
  drivers.b.start();
  clock.advance(3000);
  t.like(drivers.a.txTiming, { lateTransmissions: 0, gapsBeyondDetectionTime: 0 });
  t.true(drivers.a.txTiming.longestGapUpUs <= 100_000, `${drivers.a.txTiming.longestGapUpUs} µs`);
  // Alone (Down, 1 s apart), on a clock whose timers fire late by `stallMs` as behind a held event loop.
  const manual = new ManualClock();
  let stallMs = 0;
  const held: Clock = {
    now: () => manual.now(),
    setTimer: (delayMs, fire) => manual.setTimer(delayMs + stallMs, fire),
  };
  const late = new BfdSessionDriver({
    clock: held,
    localDiscr: 9,
    timers: TIMERS,
    random: () => 0,
    send: () => undefined,
    onStateChange: () => undefined,
  });
  late.start();
  manual.advance(1000);
  t.is(late.state.sessionState, BfdState.Down);
  t.is(late.txTiming.lateTransmissions, 0, 'armed a millisecond early: the full interval is kept');
  stallMs = 400;
  manual.advance(2500);
  t.like(late.txTiming, { lateTransmissions: 1, gapsBeyondDetectionTime: 0 });
  drivers.a.stop();
  drivers.b.stop();
  late.stop();
});

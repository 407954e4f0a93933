// The RFC 5880 BFD session as transition tables: every local state × received state (§6.8.6), every
// state × timer (§6.8.4, §6.8.7), the Poll Sequence for interval changes (§6.8.3) and the jitter.
import test from 'ava';
import { initialSession, receivedTransition, SLOW_TX_INTERVAL_US, step } from '../../src/bfd/fsm.ts';
import type { BfdAction, BfdSession, BfdTimers } from '../../src/bfd/fsm.ts';
import { BfdState, Diag } from '../../src/bfd/packet.ts';
import type { ControlPacket } from '../../src/bfd/packet.ts';

const TIMERS: BfdTimers = {
  detectMult: 3,
  desiredMinTxIntervalUs: 100_000,
  requiredMinRxIntervalUs: 100_000,
};
const LOCAL = 0x11;
const REMOTE = 0x22;
const noJitter = (): number => 0;
const { AdminDown, Down, Init, Up } = BfdState;
const STATES = [AdminDown, Down, Init, Up] as const;

function remote(state: BfdState, extra: Partial<ControlPacket> = {}): ControlPacket {
  return {
    diag: Diag.NoDiagnostic,
    state,
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    detectMult: 3,
    myDiscriminator: REMOTE,
    yourDiscriminator: state === Down || state === AdminDown ? 0 : LOCAL,
    desiredMinTxIntervalUs: 100_000,
    requiredMinRxIntervalUs: 100_000,
    requiredMinEchoRxIntervalUs: 0,
    ...extra,
  };
}

function inState(sessionState: BfdState): BfdSession {
  const s = initialSession(TIMERS, LOCAL);
  const up = sessionState === Up;
  return {
    ...s,
    sessionState,
    remoteDiscr: REMOTE,
    desiredMinTxIntervalUs: up ? 100_000 : SLOW_TX_INTERVAL_US,
    txIntervalInForceUs: up ? 100_000 : SLOW_TX_INTERVAL_US,
  };
}

const stateChanges = (actions: readonly BfdAction[]): BfdAction[] =>
  actions.filter((a) => a.type === 'state');

// §6.8.6: (local, received) → next; undefined = no change. AdminDown locally discards everything.
const TABLE: [BfdState, BfdState, BfdState | undefined, Diag | undefined][] = [
  [Down, AdminDown, undefined, undefined],
  [Down, Down, Init, Diag.NoDiagnostic],
  [Down, Init, Up, Diag.NoDiagnostic],
  [Down, Up, undefined, undefined],
  [Init, AdminDown, Down, Diag.NeighborSignaledSessionDown],
  [Init, Down, undefined, undefined],
  [Init, Init, Up, Diag.NoDiagnostic],
  [Init, Up, Up, Diag.NoDiagnostic],
  [Up, AdminDown, Down, Diag.NeighborSignaledSessionDown],
  [Up, Down, Down, Diag.NeighborSignaledSessionDown],
  [Up, Init, undefined, undefined],
  [Up, Up, undefined, undefined],
  [AdminDown, AdminDown, undefined, undefined],
  [AdminDown, Down, undefined, undefined],
  [AdminDown, Init, undefined, undefined],
  [AdminDown, Up, undefined, undefined],
];

test('the table covers every local × received state', (t) => {
  t.is(new Set(TABLE.map(([l, r]) => `${l}/${r}`)).size, STATES.length * STATES.length);
});

for (const [local, received, next, diag] of TABLE) {
  test(`local ${local} receives ${received} → ${next ?? 'stays'}`, (t) => {
    const { state, actions } = step(inState(local), { type: 'packet', packet: remote(received) }, noJitter);
    t.is(state.sessionState, next ?? local);
    t.deepEqual(
      stateChanges(actions),
      next === undefined ? [] : [{ type: 'state', from: local, to: next, diag: diag! }],
    );
    if (local !== AdminDown) t.is(receivedTransition(local, received), next);
    if (next !== undefined) t.true(actions.some((a) => a.type === 'send' && a.packet.state === next));
  });
}

for (const local of STATES) {
  test(`local ${local}: Detection Time expires`, (t) => {
    const { state, actions } = step(inState(local), { type: 'timer', timer: 'detect' }, noJitter);
    const goesDown = local === Init || local === Up;
    t.is(state.sessionState, goesDown ? Down : local);
    t.is(state.remoteDiscr, 0, '§6.8.1: RemoteDiscr resets after a Detection Time without packets');
    t.deepEqual(
      stateChanges(actions),
      goesDown ? [{ type: 'state', from: local, to: Down, diag: Diag.ControlDetectionTimeExpired }] : [],
    );
  });

  test(`local ${local}: TX timer sends and re-arms`, (t) => {
    const s = { ...inState(local), remoteMinRxIntervalUs: 100_000 };
    const { state, actions } = step(s, { type: 'timer', timer: 'tx' }, noJitter);
    t.is(state, s);
    t.deepEqual(
      actions.map((a) => a.type),
      ['send', 'arm'],
    );
    t.is((actions[1] as { delayUs: number }).delayUs, local === Up ? 100_000 : SLOW_TX_INTERVAL_US);
  });
}

test('a packet for another discriminator is ignored', (t) => {
  const s = inState(Init);
  const { state, actions } = step(
    s,
    { type: 'packet', packet: remote(Up, { yourDiscriminator: 99 }) },
    noJitter,
  );
  t.is(state, s);
  t.deepEqual(actions, []);
});

test('every valid packet re-arms the Detection Time: remote mult × max(our RX, their TX) (§6.8.4)', (t) => {
  const packet = remote(Up, { detectMult: 4, desiredMinTxIntervalUs: 150_000 });
  const { actions } = step(inState(Up), { type: 'packet', packet }, noJitter);
  t.deepEqual(actions.at(-1), { type: 'arm', timer: 'detect', delayUs: 600_000 });
});

test('no periodic packets while the remote asks for none (§6.8.7)', (t) => {
  const s = { ...inState(Up), remoteMinRxIntervalUs: 0 };
  t.deepEqual(
    step(s, { type: 'timer', timer: 'tx' }, noJitter).actions.map((a) => a.type),
    ['arm'],
  );
});

test('TX interval: max(ours, their RX), reduced by up to 25%, or 10–25% with Detect Mult 1 (§6.8.7)', (t) => {
  const s = { ...inState(Up), remoteMinRxIntervalUs: 200_000 };
  const delay = (session: BfdSession, r: number): number =>
    (step(session, { type: 'timer', timer: 'tx' }, () => r).actions[1] as { delayUs: number }).delayUs;
  t.is(delay(s, 0), 200_000);
  t.is(delay(s, 0.999999), 150_000);
  const single = { ...s, config: { ...TIMERS, detectMult: 1 } };
  t.is(delay(single, 0), 180_000);
  t.is(delay(single, 0.999999), 150_000);
});

test('a Poll is answered at once with Final and without Poll (§6.8.7)', (t) => {
  const { actions } = step(inState(Up), { type: 'packet', packet: remote(Up, { poll: true }) }, noJitter);
  const finals = actions.filter((a) => a.type === 'send' && a.packet.final);
  t.is(finals.length, 1);
  t.false((finals[0] as { packet: ControlPacket }).packet.poll);
});

test('bring-up: Down → Init → Up, then a Poll Sequence lowers TX from 1 s (§6.8.3)', (t) => {
  let s = initialSession(TIMERS, LOCAL);
  t.is(s.desiredMinTxIntervalUs, SLOW_TX_INTERVAL_US);
  s = step(s, { type: 'packet', packet: remote(Down) }, noJitter).state;
  t.is(s.sessionState, Init);
  const up = step(s, { type: 'packet', packet: remote(Up) }, noJitter);
  s = up.state;
  t.is(s.sessionState, Up);
  t.true(s.pollActive);
  t.is(s.desiredMinTxIntervalUs, 100_000);
  t.is(s.txIntervalInForceUs, 100_000, 'a lower TX interval applies at once');
  const sent = up.actions.find((a) => a.type === 'send') as { packet: ControlPacket };
  t.true(sent.packet.poll);
  t.is(sent.packet.desiredMinTxIntervalUs, 100_000);
  s = step(s, { type: 'packet', packet: remote(Up, { final: true }) }, noJitter).state;
  t.false(s.pollActive);
});

test('raising TX while Up waits for the Final; lowering RX keeps the old Detection Time until then (§6.8.3)', (t) => {
  let s = { ...inState(Up), remoteDetectMult: 3, remoteDesiredMinTxIntervalUs: 10_000 };
  const slower = { detectMult: 3, desiredMinTxIntervalUs: 300_000, requiredMinRxIntervalUs: 50_000 };
  const changed = step(s, { type: 'set-timers', config: slower }, noJitter);
  s = changed.state;
  t.true(s.pollActive);
  t.is(s.desiredMinTxIntervalUs, 300_000);
  t.is(s.txIntervalInForceUs, 100_000);
  t.is(s.rxIntervalInForceUs, 100_000);
  t.true(changed.actions.some((a) => a.type === 'send' && a.packet.poll));
  const periodic = step(s, { type: 'timer', timer: 'tx' }, noJitter).actions[0] as { packet: ControlPacket };
  t.true(periodic.packet.poll, 'periodic packets carry Poll until the Final arrives');
  const fin = step(s, { type: 'packet', packet: remote(Up, { final: true }) }, noJitter);
  t.false(fin.state.pollActive);
  t.is(fin.state.txIntervalInForceUs, 300_000);
  t.is(fin.state.rxIntervalInForceUs, 50_000);
  t.deepEqual(fin.actions.at(-1), { type: 'arm', timer: 'detect', delayUs: 3 * 100_000 });
});

test('going Down restores the one-second TX floor at once, without a Poll', (t) => {
  const { state } = step(inState(Up), { type: 'packet', packet: remote(Down) }, noJitter);
  t.is(state.desiredMinTxIntervalUs, SLOW_TX_INTERVAL_US);
  t.is(state.txIntervalInForceUs, SLOW_TX_INTERVAL_US);
  t.false(state.pollActive);
});

test('admin-down sends AdminDown with diag 7 and stops detection; admin-up returns to Down', (t) => {
  const down = step(inState(Up), { type: 'admin-down' }, noJitter);
  t.is(down.state.sessionState, AdminDown);
  t.true(down.actions.some((a) => a.type === 'send' && a.packet.state === AdminDown && a.packet.diag === 7));
  t.true(down.actions.some((a) => a.type === 'cancel' && a.timer === 'detect'));
  t.is(step(down.state, { type: 'admin-up' }, noJitter).state.sessionState, Down);
});

test('the idle TX interval is advertised while not Up, never below one second (§6.8.3)', (t) => {
  const idle = initialSession({ ...TIMERS, idleTxIntervalUs: 60_000_000 }, LOCAL);
  t.is(idle.desiredMinTxIntervalUs, 60_000_000);
  t.is(
    initialSession({ ...TIMERS, idleTxIntervalUs: 10_000 }, LOCAL).desiredMinTxIntervalUs,
    SLOW_TX_INTERVAL_US,
  );
  // Up: the fast interval, by a Poll Sequence; Down again: the idle one at once.
  const init = step(idle, { type: 'packet', packet: remote(Down) }, noJitter).state;
  const up = step(init, { type: 'packet', packet: remote(Up) }, noJitter).state;
  t.is(up.desiredMinTxIntervalUs, 100_000);
  t.true(up.pollActive);
  const down = step(up, { type: 'timer', timer: 'detect' }, noJitter).state;
  t.is(down.desiredMinTxIntervalUs, 60_000_000);
  t.false(down.pollActive);
});

// The RFC 4271 §8 FSM as transition tables: each row is (state, input) → (next state, actions).
import test from 'ava';
import {
  DEFAULT_TIMERS,
  idleHoldSeconds,
  INITIAL_STATE,
  SessionState,
  step,
} from '../../../src/bgp/session/fsm.ts';
import type { FsmAction, FsmConfig, FsmInput, FsmState } from '../../../src/bgp/session/fsm.ts';
import { CeaseSubcode, ErrorCode, FsmSubcode, MessageType, OpenSubcode } from '../../../src/bgp/constants.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { Capability, OpenMessage } from '../../../src/bgp/types.ts';

const CAPS: Capability[] = [
  { code: 1, afi: 1, safi: 1 },
  { code: 1, afi: 2, safi: 1 },
  { code: 2 },
  { code: 65, asn: 64512 },
];

function open(asn: number, id: number, holdTimeSec = 90, capabilities = CAPS): OpenMessage {
  return {
    type: MessageType.Open,
    version: 4,
    myAutonomousSystem: asn > 0xffff ? 23456 : asn,
    holdTimeSec,
    bgpIdentifier: id,
    capabilities: capabilities.map((c) => (c.code === 65 ? { code: 65, asn } : c)),
    unsupportedParameters: [],
    extendedParameters: false,
  };
}

const LOCAL_OPEN = open(64512, 0x0a000001, 240);
const config: FsmConfig = {
  ...DEFAULT_TIMERS,
  local: { localAs: 64512, bgpIdentifier: 0x0a000001, peerAs: 64512, holdTimeSec: 240 },
  localOpen: LOCAL_OPEN,
  passive: false,
};
const passive: FsmConfig = { ...config, passive: true };

const KEEPALIVE = { kind: 'message', message: { type: MessageType.Keepalive } } as const;
const PEER_OPEN = { kind: 'message', message: open(64512, 0x0a000002, 90) } as const;

/** Runs inputs from the initial state and returns the last step's state and actions. */
function run(cfg: FsmConfig, inputs: FsmInput[], from: FsmState = INITIAL_STATE) {
  let state = from;
  let actions: readonly FsmAction[] = [];
  for (const input of inputs) ({ state, actions } = step(cfg, state, input));
  return { state, actions };
}

function kinds(actions: readonly FsmAction[]): string[] {
  return actions
    .filter((a) => a.kind !== 'disarm')
    .map((a) => (a.kind === 'arm' ? `arm ${a.timer} ${a.seconds}` : a.kind));
}

const toEstablished: FsmInput[] = [
  { kind: 'start' },
  { kind: 'timer', timer: 'connect-retry' },
  { kind: 'tcp-connected' },
  PEER_OPEN,
  KEEPALIVE,
];

test('the happy path: Idle → Active → Connect → OpenSent → OpenConfirm → Established', (t) => {
  const rows: [FsmInput, SessionState, string[]][] = [
    [{ kind: 'start' }, SessionState.Active, ['arm connect-retry 2']],
    [
      { kind: 'timer', timer: 'connect-retry' },
      SessionState.Connect,
      ['close', 'arm connect-retry 5', 'connect'],
    ],
    [{ kind: 'tcp-connected' }, SessionState.OpenSent, ['send-open', 'arm hold 240']],
    [
      PEER_OPEN,
      SessionState.OpenConfirm,
      ['open-received', 'send-keepalive', 'arm hold 90', 'arm keepalive 30'],
    ],
    [KEEPALIVE, SessionState.Established, ['arm hold 90', 'arm error-forget 300', 'established']],
  ];
  let state = INITIAL_STATE;
  for (const [input, next, actions] of rows) {
    const result = step(config, state, input);
    t.is(result.state.state, next, `${state.state} + ${input.kind}`);
    t.deepEqual(kinds(result.actions), actions, `${state.state} + ${input.kind}`);
    state = result.state;
  }
  t.is(state.negotiated?.holdTimeSec, 90);
});

test('a passive peer waits in Active and never connects', (t) => {
  const { state, actions } = run(passive, [{ kind: 'start' }]);
  t.is(state.state, SessionState.Active);
  t.deepEqual(kinds(actions), []);
  t.deepEqual(kinds(step(passive, state, { kind: 'timer', timer: 'connect-retry' }).actions), []);
  t.is(run(passive, [{ kind: 'tcp-connected' }], state).state.state, SessionState.OpenSent);
});

test('Connect + TcpConnectionFails → Active, retrying after ConnectRetryTime', (t) => {
  const { state, actions } = run(config, [
    { kind: 'start' },
    { kind: 'timer', timer: 'connect-retry' },
    { kind: 'tcp-failed', reason: 'ECONNREFUSED' },
  ]);
  t.is(state.state, SessionState.Active);
  t.deepEqual(kinds(actions), ['close', 'arm connect-retry 5']);
});

test('OpenSent + TcpConnectionFails → Active (§8.2.2)', (t) => {
  const { state } = run(config, [...toEstablished.slice(0, 3), { kind: 'tcp-failed', reason: 'reset' }]);
  t.is(state.state, SessionState.Active);
});

test('hold timer expiry sends Hold Timer Expired and damps the restart', (t) => {
  for (const prefix of [toEstablished.slice(0, 3), toEstablished.slice(0, 4), toEstablished]) {
    const { state, actions } = run(config, [...prefix, { kind: 'timer', timer: 'hold' }]);
    t.is(state.state, SessionState.Idle);
    const sent = actions.find((a) => a.kind === 'send-notification');
    t.like(sent, { code: ErrorCode.HoldTimerExpired, subcode: 0 });
    t.truthy(actions.find((a) => a.kind === 'down'));
    t.like(
      actions.find((a) => a.kind === 'arm'),
      { timer: 'idle-hold', seconds: 5 },
    );
  }
});

test('idle hold doubles per consecutive failure up to its maximum, and a stable session resets it', (t) => {
  t.deepEqual(
    [1, 2, 3, 4, 5].map((n) => idleHoldSeconds(config, n)),
    [5, 10, 20, 30, 30],
  );
  let s = run(config, [...toEstablished, { kind: 'timer', timer: 'hold' }]).state;
  s = run(
    config,
    [{ kind: 'timer', timer: 'idle-hold' }, ...toEstablished.slice(1), { kind: 'timer', timer: 'hold' }],
    s,
  ).state;
  t.is(s.connectRetryCounter, 2);
  const stable = run(
    config,
    [
      { kind: 'timer', timer: 'idle-hold' },
      ...toEstablished.slice(1),
      { kind: 'timer', timer: 'error-forget' },
    ],
    s,
  );
  t.is(stable.state.connectRetryCounter, 0);
});

test('keepalives are sent at the negotiated interval in OpenConfirm and Established', (t) => {
  for (const prefix of [toEstablished.slice(0, 4), toEstablished]) {
    const { state, actions } = run(config, [...prefix, { kind: 'timer', timer: 'keepalive' }]);
    t.deepEqual(kinds(actions), ['send-keepalive', 'arm keepalive 30']);
    t.is(state.state, prefix.length === 5 ? SessionState.Established : SessionState.OpenConfirm);
  }
});

test('a hold time of zero disables both timers (RFC 4271 §4.2)', (t) => {
  const { state, actions } = run(config, [
    ...toEstablished.slice(0, 3),
    { kind: 'message', message: open(64512, 2, 0) },
  ]);
  t.is(state.negotiated?.holdTimeSec, 0);
  t.false(actions.some((a) => a.kind === 'arm'));
  t.false(run(config, [KEEPALIVE], state).actions.some((a) => a.kind === 'arm' && a.timer === 'hold'));
});

test('unexpected messages are Finite State Machine Errors with the RFC 6608 subcode', (t) => {
  const update = {
    kind: 'message',
    message: { type: MessageType.Update, withdrawnRoutes: [], attributes: {}, nlri: [], errors: [] },
  } as const;
  const rows: [FsmInput[], number][] = [
    [[...toEstablished.slice(0, 3), KEEPALIVE], FsmSubcode.UnexpectedMessageInOpenSent],
    [[...toEstablished.slice(0, 3), update], FsmSubcode.UnexpectedMessageInOpenSent],
    [[...toEstablished.slice(0, 4), update], FsmSubcode.UnexpectedMessageInOpenConfirm],
    [[...toEstablished.slice(0, 4), PEER_OPEN], FsmSubcode.UnexpectedMessageInOpenConfirm],
    [[...toEstablished, PEER_OPEN], FsmSubcode.UnexpectedMessageInEstablished],
  ];
  for (const [inputs, subcode] of rows) {
    const { state, actions } = run(config, inputs);
    t.is(state.state, SessionState.Idle);
    t.like(
      actions.find((a) => a.kind === 'send-notification'),
      { code: ErrorCode.FsmError, subcode },
    );
  }
});

test('OPEN errors from negotiation: bad peer AS, own identifier, no common family', (t) => {
  const rows: [OpenMessage, number][] = [
    [open(64999, 2), OpenSubcode.BadPeerAs],
    [open(64512, 0x0a000001), OpenSubcode.BadBgpIdentifier],
    [
      open(64512, 2, 90, [
        { code: 1, afi: 25, safi: 65 },
        { code: 65, asn: 64512 },
      ]),
      OpenSubcode.UnsupportedCapability,
    ],
    [
      { ...open(64512, 2), unsupportedParameters: [{ type: 1, value: new Uint8Array(2) }] },
      OpenSubcode.UnsupportedOptionalParameter,
    ],
  ];
  for (const [peerOpen, subcode] of rows) {
    const { state, actions } = run(config, [
      ...toEstablished.slice(0, 3),
      { kind: 'message', message: peerOpen },
    ]);
    t.is(state.state, SessionState.Idle);
    t.like(
      actions.find((a) => a.kind === 'send-notification'),
      { code: ErrorCode.OpenMessage, subcode },
    );
  }
});

test('updates and route refreshes are delivered only in Established, each restarting the hold timer', (t) => {
  const update = {
    type: MessageType.Update,
    withdrawnRoutes: [],
    attributes: {},
    nlri: [],
    errors: [],
  } as const;
  const { state, actions } = run(config, [...toEstablished, { kind: 'message', message: update }]);
  t.is(state.state, SessionState.Established);
  t.deepEqual(kinds(actions), ['arm hold 90', 'deliver']);
});

test('a decode error sends its own NOTIFICATION', (t) => {
  const error = new BgpError(ErrorCode.UpdateMessage, 1, 'bad');
  const { state, actions } = run(config, [...toEstablished, { kind: 'bad-message', error }]);
  t.is(state.state, SessionState.Idle);
  t.like(
    actions.find((a) => a.kind === 'send-notification'),
    { code: 3, subcode: 1 },
  );
});

test('a NOTIFICATION received ends the session and reports what the peer said', (t) => {
  const n = {
    type: MessageType.Notification,
    code: 6,
    subcode: 2,
    data: new Uint8Array(),
    shutdownCommunication: 'bye',
  } as const;
  const { state, actions } = run(config, [...toEstablished, { kind: 'message', message: n }]);
  t.is(state.state, SessionState.Idle);
  t.false(actions.some((a) => a.kind === 'send-notification'));
  t.like(
    actions.find((a) => a.kind === 'down'),
    { reason: { kind: 'notification-received', notification: { shutdownCommunication: 'bye' } } },
  );
});

test('ManualStop sends Cease with the shutdown communication and does not restart', (t) => {
  const { state, actions } = run(config, [
    ...toEstablished,
    { kind: 'stop', subcode: CeaseSubcode.AdministrativeShutdown, shutdownCommunication: 'maintenance' },
  ]);
  t.is(state.state, SessionState.Idle);
  t.is(state.connectRetryCounter, 0);
  t.like(
    actions.find((a) => a.kind === 'send-notification'),
    { code: 6, subcode: 2, shutdownCommunication: 'maintenance' },
  );
  t.false(actions.some((a) => a.kind === 'arm'));
  t.deepEqual(kinds(run(config, [{ kind: 'start' }, { kind: 'stop', subcode: 2 }]).actions), ['close']);
});

test('RFC 8538 §5.1: with the N bit on both sides, a stop that means "gone for good" goes as a Hard Reset', (t) => {
  const withN = (c: Capability[]): Capability[] => [
    ...c,
    { code: 64, restartState: false, notification: true, restartTimeSec: 120, families: [] },
  ];
  const nConfig: FsmConfig = { ...config, localOpen: open(64512, 0x0a000001, 240, withN(CAPS)) };
  const nEstablished: FsmInput[] = [
    ...toEstablished.slice(0, 3),
    { kind: 'message', message: open(64512, 0x0a000002, 90, withN(CAPS)) },
    KEEPALIVE,
  ];
  const stop = (cfg: FsmConfig, inputs: FsmInput[], subcode: number) =>
    run(cfg, [...inputs, { kind: 'stop', subcode, shutdownCommunication: 'bye' }]).actions;
  const shutdown = stop(nConfig, nEstablished, CeaseSubcode.AdministrativeShutdown);
  // The wrapped NOTIFICATION travels in the data: Cease / Administrative Shutdown, "bye".
  t.like(
    shutdown.find((a) => a.kind === 'send-notification'),
    {
      code: 6,
      subcode: CeaseSubcode.HardReset,
      data: Uint8Array.of(6, 2, 3, 0x62, 0x79, 0x65),
    },
  );
  // The reason names the cause, and that it went as a Hard Reset.
  t.like(
    shutdown.find((a) => a.kind === 'down'),
    {
      reason: { kind: 'stopped', notification: { code: 6, subcode: 2 }, hardReset: true },
    },
  );
  // A configuration change is not "gone for good": plain Cease, the peer keeps the routes stale.
  t.like(
    stop(nConfig, nEstablished, CeaseSubcode.OtherConfigurationChange).find(
      (a) => a.kind === 'send-notification',
    ),
    { code: 6, subcode: CeaseSubcode.OtherConfigurationChange },
  );
  // Only one side sets N: no Hard Reset.
  t.like(
    stop(nConfig, toEstablished, CeaseSubcode.AdministrativeShutdown).find(
      (a) => a.kind === 'send-notification',
    ),
    { code: 6, subcode: CeaseSubcode.AdministrativeShutdown, shutdownCommunication: 'bye' },
  );
});

test('a Hard Reset received: the reason carries the NOTIFICATION inside it (RFC 8538 §3)', (t) => {
  const { actions } = run(config, [
    ...toEstablished,
    {
      kind: 'message',
      message: { type: MessageType.Notification, code: 6, subcode: 9, data: Uint8Array.of(6, 3) },
    },
  ]);
  t.like(
    actions.find((a) => a.kind === 'down'),
    {
      reason: { kind: 'notification-received', notification: { code: 6, subcode: 3 }, hardReset: true },
    },
  );
});

test('collision dump sends Cease/Connection Collision Resolution without damping', (t) => {
  const { state, actions } = run(config, [...toEstablished.slice(0, 4), { kind: 'collision-dump' }]);
  t.is(state.state, SessionState.Idle);
  t.is(state.connectRetryCounter, 0);
  t.like(
    actions.find((a) => a.kind === 'send-notification'),
    { code: 6, subcode: CeaseSubcode.ConnectionCollisionResolution },
  );
});

test('Idle refuses connections and ignores everything but start', (t) => {
  t.deepEqual(kinds(step(config, INITIAL_STATE, { kind: 'tcp-connected' }).actions), ['close']);
  t.is(step(config, INITIAL_STATE, KEEPALIVE).state, INITIAL_STATE);
  t.is(step(config, INITIAL_STATE, { kind: 'timer', timer: 'hold' }).state, INITIAL_STATE);
});

// The life of a restarting peer's paths on the receiving side, driven by a manual clock: stale for the
// restart time (RFC 4724 §4.2), LLGR-stale for the long-lived stale time (RFC 9494 §4.2: LLGR_STALE
// attached, least preferred, NO_LLGR removed), then gone; End-of-RIB ending it early; the sessions
// RFC 8538 lets end gracefully (hold timer, NOTIFICATION other than Hard Reset, with the N bit).
import test from 'ava';
import { Origin, WellKnownCommunity } from '../../src/bgp/constants.ts';
import type { DownReason } from '../../src/bgp/session/fsm.ts';
import type { GracefulRestartCapability, LongLivedGracefulRestartCapability } from '../../src/bgp/types.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { Afi } from '../../src/lib/family.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import { decide, DecisionStep } from '../../src/rib/decision.ts';
import { GracefulRestartHelper } from '../../src/rib/graceful-restart.ts';
import type { RestartTerms } from '../../src/rib/graceful-restart.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { Path } from '../../src/rib/route.ts';
import type { RibPeer } from '../../src/rib/route.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';

const KEY = '192.0.2.7';
const RESTART_TIME_SEC = 120;
const STALE_TIME_SEC = 3600;
const LOST: DownReason = { kind: 'connection-lost', text: 'connection reset' };
const A = parsePrefix('10.7.1.0/24') as Nlri;
const B = parsePrefix('10.7.2.0/24') as Nlri;
const V6 = parsePrefix('fd00:7::/64') as Nlri;

function ribPeer(id: number): RibPeer {
  return {
    id,
    name: `p${id}`,
    addressKey: `4:${String(id).padStart(8, '0')}`,
    bgpIdentifier: id,
    external: false,
    peerAs: 64512,
    routeReflectorClient: true,
    local: false,
  };
}
const RESTARTER = ribPeer(7);
const OTHER = ribPeer(8);

function gr(restartTimeSec = RESTART_TIME_SEC, forwardingState = false): GracefulRestartCapability {
  const families = [Afi.Ipv4, Afi.Ipv6].map((afi) => ({ afi, safi: 1, forwardingState }));
  return { code: 64, restartState: false, notification: true, restartTimeSec, families };
}

function llgr(staleTimeSec = STALE_TIME_SEC, forwardingState = false): LongLivedGracefulRestartCapability {
  const families = [Afi.Ipv4, Afi.Ipv6].map((afi) => ({ afi, safi: 1, forwardingState, staleTimeSec }));
  return { code: 71, families };
}

function terms(fields: Partial<RestartTerms> = {}): RestartTerms {
  return {
    gracefulRestart: gr(),
    longLived: llgr(),
    localStaleTimeSec: new Map([
      [Afi.Ipv4, STALE_TIME_SEC],
      [Afi.Ipv6, STALE_TIME_SEC],
    ]),
    notification: true,
    ...fields,
  };
}

function setup() {
  const clock = new ManualClock();
  const rib = new LocRib();
  const helper = new GracefulRestartHelper(rib, clock, silentLogger);
  const announce = (from: RibPeer, prefix: Nlri, attributes: RouteAttributes = {}) => {
    const nextHop = prefix.afi === Afi.Ipv4 ? '192.0.2.7' : 'fd00::7';
    const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop, ...attributes });
    rib.announce(from, prefix, attrs, true);
    rib.attrSets.release(attrs);
  };
  /** The paths of `prefix`, by peer name, with whether each carries LLGR_STALE; and the best's peer. */
  const view = (prefix: Nlri) => {
    const dest = rib.get(prefix);
    const paths = Object.fromEntries(
      (dest?.paths ?? []).map((p) => [p.peer.name, p.attrs.hasCommunity(WellKnownCommunity.LlgrStale)]),
    );
    return { paths, best: dest?.best?.peer.name };
  };
  /** Moves the clock and lets the RIB's walks and decisions finish. */
  const advance = async (sec: number) => {
    clock.advance(sec * 1000);
    await rib.settled();
  };
  return { clock, rib, helper, announce, view, advance };
}

test('stale for the restart time, LLGR-stale for the long-lived stale time, then gone', async (t) => {
  const { rib, helper, announce, view, advance } = setup();
  announce(RESTARTER, A);
  announce(RESTARTER, V6);
  await rib.settled();
  t.true(helper.sessionLost(KEY, RESTARTER, terms(), LOST));
  await rib.settled();
  // RFC 9494 §4.2: during the GR period route preference is not affected.
  t.deepEqual(view(A), { paths: { p7: false }, best: 'p7' });
  t.deepEqual(
    helper.phases(KEY),
    new Map([
      [Afi.Ipv4, 'stale'],
      [Afi.Ipv6, 'stale'],
    ]),
  );

  await advance(RESTART_TIME_SEC - 1);
  t.deepEqual(view(A), { paths: { p7: false }, best: 'p7' });
  await advance(1);
  // The restart time is over: the LLGR period begins, LLGR_STALE attached, the route still used.
  t.deepEqual(view(A), { paths: { p7: true }, best: 'p7' });
  t.deepEqual(view(V6), { paths: { p7: true }, best: 'p7' });
  t.deepEqual(
    helper.phases(KEY),
    new Map([
      [Afi.Ipv4, 'llgr-stale'],
      [Afi.Ipv6, 'llgr-stale'],
    ]),
  );

  await advance(STALE_TIME_SEC - 1);
  t.is(rib.pathCount, 2);
  await advance(1);
  t.is(rib.pathCount, 0);
  t.is(helper.phases(KEY), undefined);
});

test('an LLGR-stale route loses to any route that is not, and wins again when it is the only one', async (t) => {
  const { rib, helper, announce, view, advance } = setup();
  // The restarter's route is better on every RFC 4271 step (LOCAL_PREF 200 against 100).
  announce(RESTARTER, A, { localPref: 200 });
  announce(OTHER, A, { localPref: 100 });
  await rib.settled();
  t.is(view(A).best, 'p7');
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC);
  t.deepEqual(view(A), { paths: { p7: true, p8: false }, best: 'p8' });
  const dest = rib.get(A)!;
  t.is(
    rib.lostAt(
      dest,
      dest.paths.find((p) => p.peer === RESTARTER)!,
    ),
    DecisionStep.LlgrStale,
  );

  rib.withdraw(OTHER, A);
  await rib.settled();
  t.deepEqual(view(A), { paths: { p7: true }, best: 'p7' });
});

test('a route received with LLGR_STALE is least preferred too (RFC 9494 §4.3)', async (t) => {
  const { rib, announce, view } = setup();
  announce(RESTARTER, A, { localPref: 200, communities: [WellKnownCommunity.LlgrStale] });
  announce(OTHER, A, { localPref: 50 });
  await rib.settled();
  t.is(view(A).best, 'p8');
});

test('NO_LLGR routes are removed when the LLGR period begins, not kept (RFC 9494 §3.3)', async (t) => {
  const { rib, helper, announce, view, advance } = setup();
  announce(RESTARTER, A, { communities: [WellKnownCommunity.NoLlgr] });
  announce(RESTARTER, B, { communities: [0xfde80001] });
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC - 1);
  t.deepEqual(view(A), { paths: { p7: false }, best: 'p7' }, 'kept during the GR period');
  await advance(1);
  t.deepEqual(view(A), { paths: {}, best: undefined });
  t.deepEqual(view(B), { paths: { p7: true }, best: 'p7' });
  t.deepEqual(rib.get(B)?.best?.attrs.attributes.communities, [0xfde80001, WellKnownCommunity.LlgrStale]);
});

test('restart time 0 with LLGR: straight to LLGR-stale; LLGR stale time 0: GR only', async (t) => {
  const llgrOnly = setup();
  llgrOnly.announce(RESTARTER, A);
  await llgrOnly.rib.settled();
  t.true(llgrOnly.helper.sessionLost(KEY, RESTARTER, terms({ gracefulRestart: gr(0) }), LOST));
  await llgrOnly.rib.settled();
  t.deepEqual(llgrOnly.view(A), { paths: { p7: true }, best: 'p7' });

  const grOnly = setup();
  grOnly.announce(RESTARTER, A);
  await grOnly.rib.settled();
  grOnly.helper.sessionLost(KEY, RESTARTER, terms({ longLived: llgr(0) }), LOST);
  await grOnly.advance(RESTART_TIME_SEC);
  t.is(grOnly.rib.pathCount, 0);

  const neither = setup();
  neither.announce(RESTARTER, A);
  await neither.rib.settled();
  t.false(
    neither.helper.sessionLost(KEY, RESTARTER, terms({ gracefulRestart: gr(0), longLived: undefined }), LOST),
  );
});

test('our own stale time caps the peer’s (RFC 9494 §4.2: "MAY be reduced by local configuration")', async (t) => {
  const { rib, helper, announce, advance } = setup();
  announce(RESTARTER, A);
  await rib.settled();
  const local = new Map([
    [Afi.Ipv4, 60],
    [Afi.Ipv6, 60],
  ]);
  helper.sessionLost(KEY, RESTARTER, terms({ localStaleTimeSec: local }), LOST);
  await advance(RESTART_TIME_SEC + 59);
  t.is(rib.pathCount, 1);
  await advance(1);
  t.is(rib.pathCount, 0);
});

test('the peer back during the LLGR period: End-of-RIB removes what it did not re-announce', async (t) => {
  const { rib, helper, announce, view, advance } = setup();
  announce(RESTARTER, A);
  announce(RESTARTER, B);
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC + 10);
  t.is(
    helper.sessionUp(KEY, terms({ longLived: llgr(STALE_TIME_SEC, true) }), () => true),
    RESTARTER,
  );
  announce(RESTARTER, A);
  await rib.settled();
  // Re-announced: the LLGR_STALE route is replaced by the fresh one; B is still LLGR-stale.
  t.deepEqual(view(A), { paths: { p7: false }, best: 'p7' });
  t.deepEqual(view(B), { paths: { p7: true }, best: 'p7' });
  helper.endOfRib(KEY, Afi.Ipv4);
  await rib.settled();
  t.deepEqual(view(B), { paths: {}, best: undefined });
  t.deepEqual(view(A), { paths: { p7: false }, best: 'p7' });
  t.deepEqual(helper.phases(KEY), new Map([[Afi.Ipv6, 'llgr-stale']]));
});

test('the long-lived stale timer runs on after the peer is back, until End-of-RIB (RFC 9494 §4.2)', async (t) => {
  const { rib, helper, announce, advance } = setup();
  announce(RESTARTER, A);
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC + 100);
  helper.sessionUp(KEY, terms({ longLived: llgr(STALE_TIME_SEC, true) }), () => true);
  // No End-of-RIB: the stale-path time (360 s) does not end the LLGR period, its own timer does.
  await advance(STALE_TIME_SEC - 101);
  t.is(rib.pathCount, 1);
  await advance(1);
  t.is(rib.pathCount, 0);
});

test('back without preserved forwarding state: the LLGR-stale routes go at once', async (t) => {
  const { rib, helper, announce, advance } = setup();
  announce(RESTARTER, A);
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC + 10);
  helper.sessionUp(KEY, terms(), () => true);
  await rib.settled();
  t.is(rib.pathCount, 0);
  t.is(helper.phases(KEY), undefined);
});

test('consecutive restarts keep the long-lived stale timer’s deadline (RFC 9494 §4.2)', async (t) => {
  const { rib, helper, announce, advance } = setup();
  announce(RESTARTER, A);
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC + 1000);
  helper.sessionUp(KEY, terms({ longLived: llgr(STALE_TIME_SEC, true) }), () => true);
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  // Deadline: 3600 s after the first LLGR period began, not after the second loss.
  await advance(STALE_TIME_SEC - 1001);
  t.is(rib.pathCount, 1);
  await advance(1);
  t.is(rib.pathCount, 0);
});

const HOLD_EXPIRED: DownReason = {
  kind: 'hold-timer-expired',
  notification: { code: 4, subcode: 0 },
  text: 'hold timer expired',
};
const ADMIN_RESET_RECEIVED: DownReason = {
  kind: 'notification-received',
  notification: { code: 6, subcode: 4 },
  text: 'NOTIFICATION received',
};
const HARD_RESET_RECEIVED: DownReason = {
  kind: 'notification-received',
  notification: { code: 6, subcode: 2 },
  hardReset: true,
  text: 'NOTIFICATION received',
};
const HARD_RESET_SENT: DownReason = { ...HARD_RESET_RECEIVED, kind: 'stopped', text: 'stopped locally' };
const UPDATE_ERROR_SENT: DownReason = {
  kind: 'notification-sent',
  notification: { code: 3, subcode: 1 },
  text: 'malformed attribute list',
};

test('RFC 8538: with the N bit, a hold-timer expiry or a NOTIFICATION other than Hard Reset keeps the routes', async (t) => {
  const cases: [string, DownReason, boolean, boolean][] = [
    // reason, N bit negotiated, kept
    ['hold timer expired, N', HOLD_EXPIRED, true, true],
    ['hold timer expired, no N', HOLD_EXPIRED, false, false],
    ['Administrative Reset received, N', ADMIN_RESET_RECEIVED, true, true],
    ['Administrative Reset received, no N', ADMIN_RESET_RECEIVED, false, false],
    ['UPDATE error sent, N', UPDATE_ERROR_SENT, true, true],
    ['Hard Reset received, N', HARD_RESET_RECEIVED, true, false],
    ['Hard Reset sent, N', HARD_RESET_SENT, true, false],
    ['connection lost, no N', LOST, false, true],
    [
      'BFD Down sent, N',
      { kind: 'stopped', notification: { code: 6, subcode: 10 }, text: 'stopped locally' },
      true,
      false,
    ],
  ];
  for (const [what, reason, notification, kept] of cases) {
    const { rib, helper, announce } = setup();
    announce(RESTARTER, A);
    await rib.settled();
    const grOnly = terms({ notification, longLived: undefined });
    t.is(helper.sessionLost(KEY, RESTARTER, grOnly, reason), kept, what);
  }
});

test('an LLGR-stale route is re-advertised with LLGR_STALE to LLGR peers only (RFC 9494 §4.3)', async (t) => {
  const { rib, helper, announce, advance } = setup();
  announce(RESTARTER, A);
  await rib.settled();
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC);
  const best = rib.get(A)!.best!;
  const reflector = new ReflectorExport({ routerId: 1, clusterId: 1, localAs: 64512 });
  const client = (longLivedGracefulRestart: boolean): ExportTarget => ({
    external: false,
    routeReflectorClient: true,
    localAs: 64512,
    peerAs: 64512,
    nextHopMode: 'auto',
    longLivedGracefulRestart,
  });
  t.deepEqual(reflector.exportAttributes(best, Afi.Ipv4, client(true))?.communities, [
    WellKnownCommunity.LlgrStale,
  ]);
  t.is(reflector.exportAttributes(best, Afi.Ipv4, client(false)), undefined);
});

test('decision: LLGR_STALE is the first step, in both directions and every insertion order', (t) => {
  const { rib } = setup();
  const path = (n: number, attributes: RouteAttributes) =>
    new Path(ribPeer(n), 0, rib.attrSets.intern({ origin: Origin.Igp, asPath: [], ...attributes }), true);
  const stale = path(1, { localPref: 300, communities: [WellKnownCommunity.LlgrStale] });
  const fresh = path(2, { localPref: 100 });
  const staleToo = path(3, { localPref: 200, communities: [WellKnownCommunity.LlgrStale] });
  for (const order of [
    [stale, fresh, staleToo],
    [stale, staleToo, fresh],
    [fresh, stale, staleToo],
    [fresh, staleToo, stale],
    [staleToo, stale, fresh],
    [staleToo, fresh, stale],
  ]) {
    const d = decide(order);
    t.is(d.best, fresh);
    t.is(d.decidedBy, DecisionStep.LlgrStale);
    t.is(d.lostAt.get(stale), DecisionStep.LlgrStale);
  }
  // Only stale routes: the usual steps decide among them (RFC 9494 §4.4).
  t.like(decide([staleToo, stale]), { best: stale, decidedBy: DecisionStep.LocalPref });
});

test('what the peer sent is marked too, so import policy judged again keeps LLGR_STALE', async (t) => {
  const { rib, helper, advance } = setup();
  const base = { origin: Origin.Igp, asPath: [], nextHop: '192.0.2.7' };
  const received = rib.attrSets.intern({ ...base, communities: [0xfde80001] });
  const imported = rib.attrSets.intern({ ...base, communities: [0xfde80001], localPref: 300 });
  rib.announce(RESTARTER, A, imported, true, received);
  rib.attrSets.release(received);
  rib.attrSets.release(imported);
  await rib.settled();
  const sets = rib.attrSets.size;
  helper.sessionLost(KEY, RESTARTER, terms(), LOST);
  await advance(RESTART_TIME_SEC);
  const best = rib.get(A)!.best!;
  t.true(best.attrs.hasCommunity(WellKnownCommunity.LlgrStale));
  t.is(best.attrs.localPref, 300);
  t.true(rib.receivedAttrs(best).hasCommunity(WellKnownCommunity.LlgrStale));
  t.false(rib.receivedAttrs(best).attributes.localPref === 300);
  // The unmarked sets were released as the marked ones replaced them.
  t.is(rib.attrSets.size, sets);
});

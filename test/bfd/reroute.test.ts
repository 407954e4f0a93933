// Routed around within the BFD Detection Time, with pings running (the network: test/helpers/reroute.ts).
// Brindle in node mode learns D's prefixes from two eBGP upstreams, B and C, over BIRD 2 sessions with
// BFD at 100 ms × 3 and a 90 s hold time. B's have the lower MED, so Brindle installs one path, via B
// (RFC 4271 §9.1.2.2 (c)), not an ECMP pair that would hide the failover. A ping every 10 ms per family
// from Brindle's namespace to D records the gap: the last reply through B to the first through C.
//
// Three cases, each on a network of its own: B's cable pulled at the switch (only BFD can see it); B's
// BIRD SIGKILLed (B itself still forwarding); and B's cable pulled while B and C tie on MED, so the
// route is an ECMP pair that must lose B's next hop.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { loadavg } from 'node:os';
import { loadNative } from '../../src/lib/native.ts';
import { brindlectl } from '../helpers/brindle.ts';
import { withDiagnostics } from '../helpers/interop.ts';
import { Cleanup, waitFor } from '../helpers/netns.ts';
import { longestReplyGap } from '../helpers/ping.ts';
import {
  converged,
  DETECTION_TIME_MS,
  failOver,
  FAMILIES,
  HOLD_TIME_SEC,
  peer,
  pullB,
  sessionsWithB,
  startReroute,
} from '../helpers/reroute.ts';
import type { Failover, Setup } from '../helpers/reroute.ts';

/**
 * What the gap may add to the Detection Time: the withdrawal and the kernel write (a few ms), one ping
 * interval, and scheduling on a loaded 2-core machine. Still far below the 90 s hold time.
 */
const MARGIN_MS = 700;

const native = loadNative();
const rerouteTest = native.ok ? test.serial : test.skip;

/** The network, with the daemon's output and brindlectl status in the log if it does not converge. */
async function setup(t: ExecutionContext, cleanup: Cleanup, medC?: number): Promise<Setup> {
  const s = await startReroute(cleanup, medC);
  try {
    await converged(s);
  } catch (error) {
    t.log(s.brindle.output().slice(-6000));
    t.log(await brindlectl(s.config, 'status').catch((e: Error) => e.message));
    throw error;
  }
  return s;
}

/** `+12.3 ms` from the failure. */
const offset = (atMs: number, f: Failover) =>
  `${atMs >= f.failedAtMs ? '+' : ''}${(atMs - f.failedAtMs).toFixed(1)} ms`;

/**
 * Logs and checks the gap in each family's replies: within the Detection Time and a margin, with
 * requests lost (the pings went through B until it failed), none (B kept forwarding), or either (an
 * ECMP pair: the flow's hash picked B or C).
 */
function assertGaps(t: ExecutionContext, f: Failover, loss: 'some' | 'none' | 'either'): void {
  const switchedMs = f.switchedAtMs - f.failedAtMs;
  t.log(`both prefixes through C alone ${switchedMs} ms after the failure (polled every 20 ms)`);
  t.true(switchedMs < DETECTION_TIME_MS + MARGIN_MS, `through C after ${switchedMs} ms`);
  for (const family of FAMILIES) {
    const result = f.pings[family];
    const gap = longestReplyGap(result.replies, f.failedAtMs);
    t.truthy(gap, `${family}: replies on both sides of the failure`);
    if (!gap) continue;
    t.log(
      `${family}: ${gap.gapMs.toFixed(1)} ms without a reply, ${gap.lost} requests lost (replies at ` +
        `${offset(gap.lastBeforeMs, f)} and ${offset(gap.firstAfterMs, f)} from the failure); ` +
        `${result.received} of ${result.transmitted} replies; Detection Time ${DETECTION_TIME_MS} ms; ` +
        `load ${loadavg()[0].toFixed(1)}`,
    );
    t.true(gap.gapMs < DETECTION_TIME_MS + MARGIN_MS, `${family}: ${gap.gapMs} ms`);
    if (loss === 'some') t.true(gap.lost > 0, `${family}: the pings went through B until it failed`);
    if (loss === 'none') t.is(result.received, result.transmitted, `${family}: no request lost`);
  }
}

const CEASE_BFD_DOWN = '6/10 Cease/BFD Down';

/** BFD with B went Down on its timer, and took the BGP session down with Cease/BFD Down. */
async function assertBfdTookBDown(t: ExecutionContext, s: Setup, f: Failover): Promise<void> {
  for (const family of FAMILIES) {
    const { bfd, bgp } = await sessionsWithB(s, family);
    t.is(bfd?.state, 'Down', `${family}: BFD`);
    t.is(bfd?.lastDown?.diagnostic, 'Control Detection Time Expired');
    t.log(
      `${family}: BFD Down ${Date.parse(bfd?.lastDown?.at ?? '') - f.failedAtMs} ms after the link went down`,
    );
    t.not(bgp.state, 'Established', `${family}: BGP with B`);
    t.is(bgp.counters.notificationsSent[CEASE_BFD_DOWN], 1, `${family}: Cease/BFD Down (RFC 9384)`);
  }
}

rerouteTest("B's link goes down: D is reached through C within the Detection Time", async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const s = await setup(t, cleanup);
  for (const family of FAMILIES)
    t.is((await peer(s, 'b', family)).negotiated?.holdTimeSec, HOLD_TIME_SEC, `${family}: BGP hold time`);
  const f = await withDiagnostics(
    t,
    () => s.brindle.output(),
    () => failOver(s, cleanup, () => pullB(s)),
  );
  assertGaps(t, f, 'some');
  await assertBfdTookBDown(t, s, f);
});

// B's BIRD dies while B itself lives: B's kernel closes the TCP connection at once, so the session
// ends before BFD's Detection Time and D's prefixes move to C without BFD; B still forwards, so no
// reply is lost. BFD goes Down after the Detection Time all the same (BIRD's BFD died with it), with
// no Cease to send: the session is already down. BIRD announces graceful restart as a receiving
// speaker only ("aware"), so Brindle keeps none of its routes as stale (RFC 4724 §4.2).
rerouteTest("B's BIRD is SIGKILLed: its closed connection moves D to C, and no reply is lost", async (t) => {
  const cleanup = new Cleanup();
  t.teardown(() => cleanup.run());
  const s = await setup(t, cleanup);
  const kill = () => process.kill(s.birds.b.daemon.pid, 'SIGKILL');
  const f = await withDiagnostics(
    t,
    () => s.brindle.output(),
    () => failOver(s, cleanup, kill),
  );
  assertGaps(t, f, 'none');
  for (const family of FAMILIES) {
    const { bfd, bgp } = await waitFor(
      async () => {
        const both = await sessionsWithB(s, family);
        return both.bfd?.state === 'Down' ? both : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 50, what: `${family}: BFD Down` },
    );
    t.is(bfd?.lastDown?.diagnostic, 'Control Detection Time Expired');
    // Ended once, and without a NOTIFICATION either way: the connection closed (the reason itself,
    // lastError, is overwritten by the retries that follow).
    t.log(`${family}: BGP with B ${bgp.state}: ${bgp.info}`);
    t.is(bgp.counters.transitions['Established->Idle'], 1, `${family}: the session ended`);
    t.deepEqual(bgp.counters.notificationsSent, {}, `${family}: no Cease/BFD Down`);
    t.deepEqual(bgp.counters.notificationsReceived, {}, `${family}: no NOTIFICATION from BIRD`);
  }
});

// The same failure when B and C tie (equal MED): Brindle installs both as one ECMP route, and BFD
// takes B's next hop out of it. Whether the pings lose anything depends on which next hop the
// kernel's hash gave their flow.
rerouteTest(
  "an ECMP pair: B's link goes down and the route keeps C alone within the Detection Time",
  async (t) => {
    const cleanup = new Cleanup();
    t.teardown(() => cleanup.run());
    const s = await setup(t, cleanup, 10);
    const f = await withDiagnostics(
      t,
      () => s.brindle.output(),
      () => failOver(s, cleanup, () => pullB(s)),
    );
    assertGaps(t, f, 'either');
    await assertBfdTookBDown(t, s, f);
  },
);

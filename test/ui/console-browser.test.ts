// The web console in a real browser (Debian's chromium, driven by playwright-core) against a running
// reflector with a real BIRD client in a network namespace, an in-process client on loopback that
// announces a losing copy of BIRD's route, and a hostile peer whose FQDN hostname and shutdown
// communication are laden with markup. Every page loads without console errors and is screenshotted
// to test-output/ui/; the overview agrees with `brindlectl status`; a route BIRD announces is in the
// live events within 1 s and in the route search with its best path and the step the other copy lost
// at; BIRD's shutdown turns its edge and row red with the reason; the hostile text stays text.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { firstValueFrom, filter } from 'rxjs';
import { CeaseSubcode, ErrorCode, Origin } from '../../src/bgp/constants.ts';
import { encodeNotification } from '../../src/bgp/codec/notification.ts';
import { encodeKeepalive } from '../../src/bgp/codec/message.ts';
import { noFibDocument } from '../../src/api/fib-view.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import { CHROMIUM, launchConsoleBrowser, openView, screenshot as shoot } from '../helpers/browser.ts';
import type { ConsoleBrowser } from '../helpers/browser.ts';
import { interopNetwork } from '../helpers/interop.ts';
import type { InteropNetwork } from '../helpers/interop.ts';
import { startBird } from '../helpers/peers.ts';
import type { BirdHandle } from '../helpers/peers.ts';
import { waitFor } from '../helpers/netns.ts';
import { announce } from '../helpers/routes.ts';
import { ScriptedPeer, openFor, STANDARD_CAPABILITIES } from '../helpers/scripted-peer.ts';
import { loopbackAddress, nextEvent, speaker, TEST_PORT } from '../helpers/session.ts';
import type { Speaker } from '../helpers/session.ts';
import { LogCapture, startApi } from '../api/support.ts';
import type { StartedApi } from '../api/support.ts';

const AS = 64512;
const NET_INDEX = 23;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOSTILE_HOSTNAME = '<img src=x id=pwned-host><script>window.pwned=1</script>';
const HOSTILE_SHUTDOWN = '<script>window.pwned=2</script><b id="pwned-cease">maintenance</b>';
const BIRD_SHUTDOWN = 'rack 7 maintenance';
const SHARED_PREFIX = '198.51.100.0/24';
const LIVE_PREFIX = '198.51.102.0/24';

interface Setup {
  net: InteropNetwork;
  router: Router;
  bird: BirdHandle;
  local: Speaker;
  hostile: ScriptedPeer;
  started: StartedApi;
  browser: ConsoleBrowser;
  page: ConsoleBrowser['page'];
  consoleErrors: string[];
  names: { bird: string; local: string; hostile: string };
}

const skip = !existsSync(CHROMIUM) ? 'chromium is not installed (npm run setup:test installs it)' : undefined;
let setup: Setup | undefined;
const teardown: (() => Promise<unknown>)[] = [];

test.before(async () => {
  if (skip) return;
  if (!existsSync(`${ROOT}dist/ui/app.js`))
    await promisify(execFile)('npm', ['run', 'build:ui'], { cwd: ROOT, timeout: 60_000 });
  setup = await start();
});

test.after.always(async () => {
  for (const step of teardown.reverse()) await step().catch(() => undefined);
});

async function start(): Promise<Setup> {
  const net = await interopNetwork(NET_INDEX, 'ui');
  teardown.push(() => net.cleanup.run());
  const router = new Router({
    routerId: parseIpv4('10.0.0.254'),
    localAs: AS,
    clusterId: parseIpv4('10.0.0.253'),
    log: new LogCapture('warn').log,
  });
  teardown.push(() => router.close());
  const localAddress = loopbackAddress();
  await router.listen(net.brindle4, TEST_PORT);
  await router.listen(localAddress, TEST_PORT);
  const local = await speaker();
  const names = {
    bird: `Global_${net.peer4.replace(/\./g, '_')}`,
    local: `Mesh_${local.address.replace(/\./g, '_')}`,
    hostile: 'Node_hostile',
  };
  teardown.push(() => local.close());
  const hostileAddress = loopbackAddress();
  const peer = (name: string, remoteAddress: string, passive: boolean) =>
    router.addPeer({
      ...peerConfig({
        name,
        remoteAddress,
        remotePort: TEST_PORT,
        localAs: AS,
        peerAs: AS,
        routerId: router.identity.routerId,
        passive,
        // A failed session stays down long enough to be looked at.
        timers: { idleHoldTimeSec: 600, connectDelayTimeSec: 0 },
      }),
      routeReflectorClient: true,
    });
  peer(names.bird, net.peer4, true);
  peer(names.local, local.address, true);
  const hostileAccept = ScriptedPeer.accept(hostileAddress, TEST_PORT);
  peer(names.hostile, hostileAddress, false);

  const bird = await startBird({
    netns: net.netns,
    routerId: '10.255.0.2',
    localAddress: net.peer4,
    localAddress6: net.peer6,
    asn: AS,
    neighbors: [{ address: net.brindle4, asn: AS, port: TEST_PORT, families: ['ipv4'] }],
    staticRoutes: [{ prefix: SHARED_PREFIX, localPref: 200, communities: ['64512:100'] }],
  });
  teardown.push(() => bird.stop());
  const remote = local.peerWith(localAddress, { localAs: AS, peerAs: AS });
  if (!remote.session) await nextEvent(remote, 'established');
  announce(remote, [
    {
      prefix: SHARED_PREFIX,
      attributes: { origin: Origin.Igp, asPath: [], nextHop: local.address, localPref: 100 },
    },
  ]);
  const hostile = await hostileAccept;
  teardown.push(() => Promise.resolve(hostile.socket.destroy()));
  hostile.sendOpen(
    openFor(AS, parseIpv4('10.9.9.9'), 90, [
      ...STANDARD_CAPABILITIES,
      { code: 73, hostname: HOSTILE_HOSTNAME, domainName: '<i>evil</i>' },
    ]),
  );
  hostile.send(encodeKeepalive());
  await waitFor(() => router.allPeers().every((p) => p.state === 'Established'), {
    timeoutMs: 20_000,
    what: 'every session Established',
  });
  await waitFor(() => router.locRib.get(parsePrefix(SHARED_PREFIX) as Prefix)?.paths.length === 2, {
    timeoutMs: 10_000,
    what: `both paths of ${SHARED_PREFIX}`,
  });
  // One API for every test: its teardown joins this file's, since hooks cannot register their own.
  const hookContext = { teardown: (step: () => Promise<void>) => teardown.push(step) };
  const started = await startApi(hookContext as unknown as ExecutionContext, router, {
    consoleDirectory: `${ROOT}dist/ui/`,
  });
  // As the daemon does in reflector mode (src/main/daemon-api.ts).
  started.api.setFibView(() => noFibDocument('reflector mode: no kernel FIB'));
  const browser = await launchConsoleBrowser();
  teardown.push(() => browser.close());
  const { page, consoleErrors } = browser;
  return { net, router, bird, local, hostile, started, browser, page, consoleErrors, names };
}

const open = (s: Setup, hash: string) => openView(s.page, s.started.api.url!, hash);

const screenshot = (t: ExecutionContext, s: Setup, name: string) => shoot(t, s.page, name);

test.serial(
  'every page loads without console errors; the overview agrees with brindlectl status',
  async (t) => {
    if (!setup) return t.pass(skip);
    const s = setup;
    for (const view of ['overview', 'topology', 'peers', 'routes', 'events', 'ipam', 'fib']) {
      await open(s, view);
      t.is(
        await s.page.locator('main .error').count(),
        0,
        `${view}: ${await s.page.locator('main').innerText()}`,
      );
      await screenshot(t, s, view);
    }
    await open(s, 'overview');
    // brindlectl from source, so the test does not depend on `npm run build` having run first.
    const cli = ['--import', 'tsx', `${ROOT}src/cli/main.ts`, 'status', '-o', 'json'];
    const { stdout } = await promisify(execFile)(process.execPath, cli, {
      env: { ...process.env, BRINDLE_API_SOCKET: s.started.socketPath },
      timeout: 30_000,
    });
    const status = JSON.parse(stdout) as { peers: { state: string }[] };
    const established = status.peers.filter((p) => p.state === 'Established').length;
    t.is(await s.page.locator('#sessions-Established').innerText(), String(established));
    t.is(established, 3);
    t.deepEqual(s.consoleErrors, []);
  },
);

test.serial('a route BIRD announces is in the live events within 1 s and in the route search', async (t) => {
  if (!setup) return t.pass(skip);
  const s = setup;
  await open(s, 'events');
  await s.page.waitForSelector('#stream-status:text("live")', { timeout: 5000 });
  const decided = firstValueFrom(
    s.router.locRib.bestPathChanges$.pipe(
      filter((batch) => batch.some((c) => formatPrefix(c.prefix) === LIVE_PREFIX)),
    ),
  );
  await s.bird.announceRoute({ prefix: LIVE_PREFIX, communities: ['64512:102'] });
  await decided;
  const decidedAt = Date.now();
  await s.page.waitForSelector(`#event-rows tr[data-prefix="${LIVE_PREFIX}"]`, { timeout: 1000 });
  t.log(`best-path change on the page ${Date.now() - decidedAt} ms after the Loc-RIB decided it`);
  await screenshot(t, s, 'events-live');

  await open(s, `routes?prefix=${encodeURIComponent('198.51.100.9')}`);
  const dest = s.page.locator(`section.dest[data-prefix="${SHARED_PREFIX}"]`);
  const rows = dest.locator('tbody tr');
  t.is(await rows.count(), 2);
  t.regex(await rows.nth(0).innerText(), new RegExp(`best\\s+${s.names.bird}`));
  t.regex(await rows.nth(1).innerText(), new RegExp(`${s.names.local}\\s+LOCAL_PREF`));
  await screenshot(t, s, 'routes-search');
  t.deepEqual(s.consoleErrors, []);
});

test.serial('hostile hostnames and shutdown communications render as text', async (t) => {
  if (!setup) return t.pass(skip);
  const s = setup;
  await open(s, `peers/${s.names.hostile}`);
  t.true((await s.page.locator('main').innerText()).includes(HOSTILE_HOSTNAME));
  s.hostile.send(
    encodeNotification({
      code: ErrorCode.Cease,
      subcode: CeaseSubcode.AdministrativeShutdown,
      shutdownCommunication: HOSTILE_SHUTDOWN,
    }),
  );
  await waitFor(() => s.router.allPeers().find((p) => p.config.name === s.names.hostile)?.state === 'Idle', {
    timeoutMs: 5000,
    what: 'the hostile peer down',
  });
  await open(s, `peers/${s.names.hostile}`);
  const detail = await s.page.locator('main').innerText();
  t.true(detail.includes(JSON.stringify(HOSTILE_SHUTDOWN)), detail);
  await open(s, 'overview');
  t.true((await s.page.locator('main').innerText()).includes(JSON.stringify(HOSTILE_SHUTDOWN)));
  await screenshot(t, s, 'hostile-text');
  t.is(await s.page.locator('#pwned-host, #pwned-cease, main script, main img').count(), 0);
  t.is(await s.page.evaluate('typeof window.pwned'), 'undefined');
  t.deepEqual(s.consoleErrors, []);
});

test.serial('a peer going down turns its edge and its row red, with the reason', async (t) => {
  if (!setup) return t.pass(skip);
  const s = setup;
  await s.bird.shutdownNeighbor(s.net.brindle4, BIRD_SHUTDOWN);
  await waitFor(
    () => s.router.allPeers().find((p) => p.config.name === s.names.bird)?.state !== 'Established',
    {
      timeoutMs: 5000,
      what: 'the BIRD session down',
    },
  );
  await open(s, 'topology');
  const edge = s.page.locator(`line.edge[data-peer="${s.names.bird}"]`);
  t.regex((await edge.getAttribute('class')) ?? '', /\bdown\b|\bpending\b/);
  t.not(await edge.getAttribute('data-state'), 'Established');
  await screenshot(t, s, 'topology-down');
  await open(s, 'peers');
  const row = s.page.locator('tbody tr', { hasText: s.names.bird });
  t.regex((await row.getAttribute('class')) ?? '', /\bdown\b/);
  t.true((await row.innerText()).includes(BIRD_SHUTDOWN));
  await screenshot(t, s, 'peers-down');
  t.deepEqual(s.consoleErrors, []);
});

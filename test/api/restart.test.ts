// The daemon's restart and stop commands (POST /api/v1/restart|stop, control socket only) and the
// selection deferral in GET /api/v1/status and /metrics after a graceful restart (RFC 4724 §4.1).
import test from 'ava';
import type { ExecutionContext } from 'ava';
import type { DaemonStopper, StopRequest } from '../../src/api/server.ts';
import { peerConfig } from '../../src/bgp/session/peer-config.ts';
import { Router } from '../../src/daemon/router.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { ManualClock } from '../../src/lib/clock.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { SelectionDeferral } from '../../src/rib/selection-deferral.ts';
import { waitFor } from '../helpers/netns.ts';
import { call, startApi, tcp } from './support.ts';

function bareRouter(t: ExecutionContext, deferral?: SelectionDeferral): Router {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512, selectionDeferral: deferral });
  t.teardown(() => router.close());
  return router;
}

/** A stopper that records what it is asked; refuses a graceful stop when `refusal` is given. */
function recorder(refusal?: string): DaemonStopper & { readonly runs: StopRequest[] } {
  const runs: StopRequest[] = [];
  return {
    runs,
    refusal: (request) => (request.graceful ? refusal : undefined),
    run: (request) => runs.push(request),
  };
}

test('restart and stop are refused on TCP, and carried out only once answered on the socket', async (t) => {
  const stop = recorder();
  const { api, socketPath } = await startApi(t, bareRouter(t), { stop });
  t.is((await call(tcp(api), 'POST', '/api/v1/restart?graceful=true')).status, 403);
  t.is((await call(tcp(api), 'POST', '/api/v1/stop')).status, 403);
  t.deepEqual(stop.runs, []);
  const restart = await call({ socketPath }, 'POST', '/api/v1/restart?graceful=true');
  t.is(restart.status, 202);
  t.deepEqual(restart.json(), { graceful: true, restart: true });
  await waitFor(() => stop.runs.length === 1, { timeoutMs: 2_000, intervalMs: 10, what: 'the stop to run' });
  const plain = await call({ socketPath }, 'POST', '/api/v1/stop');
  t.is(plain.status, 202);
  await waitFor(() => stop.runs.length === 2, { timeoutMs: 2_000, intervalMs: 10, what: 'the stop to run' });
  t.deepEqual(stop.runs, [
    { graceful: true, restart: true },
    { graceful: false, restart: false },
  ]);
});

test('a graceful restart that could not be graceful is 409 with the reason; bad input 400; no stopper 501', async (t) => {
  const stop = recorder('bgp.restartStateFile is not set');
  const { socketPath } = await startApi(t, bareRouter(t), { stop });
  const refused = await call({ socketPath }, 'POST', '/api/v1/restart?graceful=true');
  t.is(refused.status, 409);
  t.regex(
    refused.json<{ error: string }>().error,
    /cannot restart gracefully: bgp.restartStateFile is not set/,
  );
  t.is((await call({ socketPath }, 'POST', '/api/v1/restart?graceful=yes')).status, 400);
  t.is((await call({ socketPath }, 'POST', '/api/v1/restart?soft=in')).status, 400);
  t.deepEqual(stop.runs, []);
  const bare = await startApi(t, bareRouter(t));
  t.is((await call({ socketPath: bare.socketPath }, 'POST', '/api/v1/restart')).status, 501);
});

test('status and metrics: no deferral, no field and 0; during one the peers awaited and the time left; after, its duration', async (t) => {
  const clock = new ManualClock();
  const deferral = new SelectionDeferral(clock, silentLogger, 240);
  t.teardown(() => deferral.close());
  const router = bareRouter(t, deferral);
  router.addPeer(
    peerConfig({
      name: 'rack1-tor',
      remoteAddress: '127.0.0.9',
      localAs: 64512,
      peerAs: 64512,
      routerId: router.identity.routerId,
      passive: true,
    }),
  );
  deferral.configured();
  clock.advance(30_000);
  const { socketPath } = await startApi(t, router);
  const status = (await call({ socketPath }, 'GET', '/api/v1/status')).json<{
    selectionDeferral: Record<string, unknown>;
  }>();
  t.like(status.selectionDeferral, {
    active: true,
    timeSec: 240,
    remainingSec: 210,
    releasedFamilies: [],
    awaiting: [{ peer: 'rack1-tor', remote: '127.0.0.9', established: false, endOfRibAwaited: [] }],
  });
  const during = (await call({ socketPath }, 'GET', '/metrics')).text;
  t.regex(during, /^brindle_selection_deferral_active 1$/m);
  t.regex(during, /^brindle_selection_deferral_awaited_peers 1$/m);
  t.regex(during, /^brindle_selection_deferral_duration_seconds 0$/m);

  deferral.sessionUp('127.0.0.9', [IPV4_UNICAST]);
  clock.advance(12_500);
  deferral.endOfRib('127.0.0.9', IPV4_UNICAST);
  const ended = (await call({ socketPath }, 'GET', '/api/v1/status')).json<{
    selectionDeferral: Record<string, unknown>;
  }>();
  t.like(ended.selectionDeferral, {
    active: false,
    remainingSec: 0,
    durationSec: 42.5,
    reason: 'End-of-RIB received from every peer',
    releasedFamilies: ['ipv4-unicast'],
    awaiting: [],
  });
  const after = (await call({ socketPath }, 'GET', '/metrics')).text;
  t.regex(after, /^brindle_selection_deferral_active 0$/m);
  t.regex(after, /^brindle_selection_deferral_duration_seconds 42.5$/m);

  const plain = await startApi(t, bareRouter(t));
  const none = (await call({ socketPath: plain.socketPath }, 'GET', '/api/v1/status')).json();
  t.false('selectionDeferral' in none, 'a start that was no restart shows no deferral');
});

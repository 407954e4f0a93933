// The read-only JSON API over a live reflector with two clients: status, peers and routes against
// golden files (addresses and times normalised), the FIB and IPAM extension points (501 until a view
// is registered), /metrics, and bad requests answered with 4xx JSON, never a crash.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { call, matchesGolden, normalise, reflectorFixture, startApi, tcp } from './support.ts';
import type { Fixture, StartedApi } from './support.ts';

/** Values that depend on how the Adj-RIB-Out happened to batch its UPDATEs to the speakers. */
const VOLATILE = ['messagesSent.update', 'updatesSent'];

async function setup(t: ExecutionContext): Promise<{ fixture: Fixture; started: StartedApi }> {
  const fixture = await reflectorFixture(t);
  const started = await startApi(t, fixture.router);
  return { fixture, started };
}

test('GET /api/v1/status lists every session like calicoctl node status', async (t) => {
  const { fixture, started } = await setup(t);
  const res = await call(tcp(started.api), 'GET', '/api/v1/status');
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^application\/json/);
  const body = res.json<{ peers: { type: string; state: string; info: string }[] }>();
  t.deepEqual(
    body.peers.map((p) => [p.type, p.state]),
    [
      ['mesh', 'Established'],
      ['node', 'Established'],
    ],
  );
  t.regex(body.peers[0].info, /^Established for \d+s$/);
  await matchesGolden(t, 'status', normalise(body, fixture.placeholders));
});

test('GET /api/v1/peers and /api/v1/peers/NAME give negotiated capabilities, timers and counters', async (t) => {
  const { fixture, started } = await setup(t);
  const all = await call(tcp(started.api), 'GET', '/api/v1/peers');
  t.is(all.status, 200);
  const peers = all.json<{ peers: { name: string; remote: string; prefixes: object }[] }>().peers;
  t.is(peers.length, 2);
  t.deepEqual(peers[0].prefixes, {
    'ipv4-unicast': { received: 3, accepted: 3, best: 1 },
    'ipv6-unicast': { received: 1, accepted: 1, best: 1 },
  });
  await matchesGolden(t, 'peers', normalise(all.json(), fixture.placeholders, VOLATILE));

  const byName = await call(tcp(started.api), 'GET', `/api/v1/peers/${encodeURIComponent(peers[1].name)}`);
  const byAddress = await call(tcp(started.api), 'GET', `/api/v1/peers/${peers[1].remote}`);
  t.is(byName.status, 200);
  t.deepEqual(
    normalise(byName.json(), fixture.placeholders, VOLATILE),
    normalise(byAddress.json(), fixture.placeholders, VOLATILE),
  );
  t.is(byName.json<{ name: string }>().name, peers[1].name);
});

test('GET /api/v1/routes shows best and candidate paths and the step that beat each loser', async (t) => {
  const { fixture, started } = await setup(t);
  const res = await call(tcp(started.api), 'GET', '/api/v1/routes');
  t.is(res.status, 200);
  await matchesGolden(t, 'routes', normalise(res.json(), fixture.placeholders));

  const one = await call(tcp(started.api), 'GET', '/api/v1/routes?prefix=10.244.9.0/24');
  const [dest] = one.json<{ routes: { paths: { best: boolean; lostAt: string | null }[] }[] }>().routes;
  t.deepEqual(
    dest.paths.map((p) => [p.best, p.lostAt]),
    [
      [true, null],
      [false, 'LOCAL_PREF'],
    ],
  );
  const eight = await call(tcp(started.api), 'GET', '/api/v1/routes?prefix=10.244.8.0/24');
  t.is(
    eight.json<{ routes: { paths: { lostAt: string | null }[] }[] }>().routes[0].paths[1].lostAt,
    'AS_PATH length',
  );

  // An address finds its longest match; a family filter; a limit that truncates.
  const covering = await call(tcp(started.api), 'GET', '/api/v1/routes?prefix=10.244.9.77');
  t.is(covering.json<{ routes: { prefix: string }[] }>().routes[0].prefix, '10.244.9.0/24');
  const v6 = await call(tcp(started.api), 'GET', '/api/v1/routes?family=ipv6');
  await matchesGolden(t, 'routes-ipv6', normalise(v6.json(), fixture.placeholders));
  const limited = await call(tcp(started.api), 'GET', '/api/v1/routes?family=ipv4&limit=2');
  t.like(limited.json(), { count: 2, truncated: true });
  const missing = await call(tcp(started.api), 'GET', '/api/v1/routes?prefix=192.0.2.0/24');
  t.like(missing.json(), { count: 0, routes: [] });
});

test('the FIB and IPAM endpoints are 501 until their module registers a view', async (t) => {
  const { started } = await setup(t);
  for (const path of ['/api/v1/fib', '/api/v1/ipam']) {
    const res = await call(tcp(started.api), 'GET', path);
    t.is(res.status, 501);
    t.regex(res.json<{ error: string }>().error, /not available yet/);
  }
  started.api.setFibView(() => ({ routes: [] }));
  t.deepEqual((await call(tcp(started.api), 'GET', '/api/v1/fib')).json(), { routes: [] });
});

test('GET /metrics serves the text exposition format', async (t) => {
  const { fixture, started } = await setup(t);
  // Best-path changes are counted from the registry's start: make one.
  fixture.router.originate('10.250.1.0/26', { nextHop: fixture.routerAddress });
  await fixture.router.locRib.settled();
  const res = await call(tcp(started.api), 'GET', '/metrics');
  t.is(res.status, 200);
  t.regex(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  t.regex(res.text, /^brindle_rib_prefixes\{family="ipv4-unicast"\} 6$/m);
  t.regex(res.text, /^brindle_rib_prefixes\{family="ipv6-unicast"\} 1$/m);
  t.regex(
    res.text,
    /^brindle_bgp_session_state\{peer="Mesh_[0-9_]+",remote="[0-9.]+",state="Established"\} 1$/m,
  );
  t.regex(res.text, /^brindle_rib_best_path_changes_total\{family="ipv4-unicast"\} 1$/m);
  t.notRegex(res.text, /^brindle_datastore_up/m, 'no datastore, no series');
  t.notRegex(res.text, /10\.244\./, 'no prefix is ever a label');
});

test('bad requests get 4xx JSON errors and the server keeps serving', async (t) => {
  const { started } = await setup(t);
  const api = tcp(started.api);
  const cases: [string, string, number, RegExp][] = [
    ['GET', '/nope', 404, /no such endpoint/],
    ['DELETE', '/api/v1/status', 405, /not allowed/],
    ['GET', '/api/v1/peers/nobody', 404, /no peer/],
    ['GET', '/api/v1/routes?prefix=10.0.0.0/33', 400, /not a prefix/],
    ['GET', '/api/v1/routes?prefix=banana', 400, /not a prefix or an address/],
    ['GET', '/api/v1/routes?family=ipx', 400, /family/],
    ['GET', '/api/v1/routes?limit=0', 400, /limit/],
    ['GET', '/api/v1/routes?colour=red', 400, /unknown query parameter/],
    ['GET', '/api/v1/peers/%E0%A4%A', 400, /malformed/],
    ['POST', '/api/v1/reload', 403, /control socket/],
    ['PUT', '/api/v1/log-level', 403, /control socket/],
    ['POST', '/api/v1/peers/x/reset', 403, /control socket/],
  ];
  for (const [method, path, status, message] of cases) {
    const res = await call(api, method, path);
    t.is(res.status, status, `${method} ${path}`);
    t.regex(String(res.headers['content-type']), /^application\/json/);
    const body = res.json<{ error: string; status: number }>();
    t.regex(body.error, message, `${method} ${path}`);
    t.is(body.status, status);
  }
  t.is((await call(api, 'DELETE', '/api/v1/status')).headers.allow, 'GET');
  t.is((await call(api, 'GET', '/api/v1/status')).status, 200, 'still serving');
});

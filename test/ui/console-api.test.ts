// The web console's server side over a live reflector with two clients: the page and its files with
// a strict Content-Security-Policy (503 naming `npm run build:ui` when the bundle is missing), the
// paged route search (longest match, longer prefixes, peer, community, next hop), the overview and a
// peer's state timeline with the reason it went down.
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONSOLE_CSP } from '../../src/api/ui-assets.ts';
import { waitFor } from '../helpers/netns.ts';
import { AS, call, reflectorFixture, startApi, tcp } from '../api/support.ts';

async function bundleDirectory(
  t: { teardown(fn: () => Promise<void>): void },
  files: boolean,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-ui-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const ui = join(dir, 'ui');
  await mkdir(ui);
  if (files) {
    await writeFile(join(ui, 'app.js'), 'document.title = "Brindle";\n');
    await writeFile(join(ui, 'app.css'), 'body { margin: 0 }\n');
  }
  return `${ui}/`;
}

test('without a bundle /ui/ answers 503 saying how to build it; the JSON API still works', async (t) => {
  const fixture = await reflectorFixture(t);
  const { api } = await startApi(t, fixture.router, { consoleDirectory: await bundleDirectory(t, false) });
  const page = await call(tcp(api), 'GET', '/ui/');
  t.is(page.status, 503);
  t.regex(page.json<{ error: string }>().error, /npm run build:ui/);
  t.is((await call(tcp(api), 'GET', '/api/v1/status')).status, 200);
});

test('the page and its files carry a strict CSP and nosniff; nothing else is served under /ui/', async (t) => {
  const fixture = await reflectorFixture(t);
  const { api } = await startApi(t, fixture.router, { consoleDirectory: await bundleDirectory(t, true) });
  for (const [path, type] of [
    ['/ui/', /^text\/html/],
    ['/ui/app.js', /^text\/javascript/],
    ['/ui/app.css', /^text\/css/],
  ] as const) {
    const res = await call(tcp(api), 'GET', path);
    t.is(res.status, 200, path);
    t.regex(String(res.headers['content-type']), type);
    t.is(res.headers['content-security-policy'], CONSOLE_CSP);
    t.is(res.headers['x-content-type-options'], 'nosniff');
  }
  t.is((await call(tcp(api), 'GET', '/ui/..%2Fpackage.json')).status, 404);
  t.is((await call(tcp(api), 'GET', '/ui/index.html')).status, 404);
  const bare = await call(tcp(api), 'GET', '/ui');
  t.is(bare.status, 308);
  t.is(bare.headers.location, '/ui/');
  t.is((await call(tcp(api), 'POST', '/ui/')).status, 405);
});

interface Page {
  more: boolean;
  routes: { prefix: string; paths: { from: string; best: boolean; lostAt: string | null }[] }[];
}

test('route search: longest match, longer prefixes, peer, community, next hop, and pages', async (t) => {
  const fixture = await reflectorFixture(t);
  const { api } = await startApi(t, fixture.router);
  const search = async (query: string) => {
    const res = await call(tcp(api), 'GET', `/api/v1/ui/routes?${query}`);
    t.is(res.status, 200, query);
    return res.json<Page>();
  };
  const prefixes = (page: Page) => page.routes.map((r) => r.prefix).sort();
  const [a, b] = fixture.speakers.map((s) => s.address);

  const longest = await search('prefix=10.244.9.77');
  t.deepEqual(prefixes(longest), ['10.244.9.0/24']);
  t.deepEqual(
    longest.routes[0].paths.map((p) => [p.best, p.lostAt]),
    [
      [true, null],
      [false, 'LOCAL_PREF'],
    ],
  );
  t.deepEqual(prefixes(await search('prefix=10.244.0.0/16&match=longer')), [
    '10.244.1.0/26',
    '10.244.2.0/26',
    '10.244.8.0/24',
    '10.244.9.0/24',
  ]);
  t.deepEqual(prefixes(await search('prefix=10.244.0.0/16')), []);
  t.deepEqual(prefixes(await search(`community=${AS}:7`)), ['10.244.1.0/26']);
  t.deepEqual(prefixes(await search(`nextHop=${b}`)), ['10.244.2.0/26', '10.244.8.0/24', '10.244.9.0/24']);
  const peerName = fixture.router.allPeers().find((p) => p.config.remoteAddress === a)!.config.name;
  t.is((await search(`peer=${encodeURIComponent(peerName)}&family=ipv4`)).routes.length, 3);

  const first = await search('limit=4');
  const second = await search('limit=4&offset=4');
  t.true(first.more);
  t.false(second.more);
  t.is(first.routes.length + second.routes.length, 6);
  t.is(new Set([...prefixes(first), ...prefixes(second)]).size, 6);
  t.is((await call(tcp(api), 'GET', '/api/v1/ui/routes?match=widest')).status, 400);
});

test('the overview counts sessions by state; a reset peer shows in its timeline with the reason', async (t) => {
  const fixture = await reflectorFixture(t);
  const { api, socketPath } = await startApi(t, fixture.router);
  const overview = (await call(tcp(api), 'GET', '/api/v1/ui/overview')).json<{
    role: string;
    sessions: Record<string, number>;
    locRib: Record<string, { prefixes: number }>;
    router: { localAs: number };
  }>();
  t.is(overview.role, 'route-reflector');
  t.is(overview.sessions.Established, 2);
  t.is(overview.router.localAs, AS);
  t.is(overview.locRib['ipv4-unicast'].prefixes + overview.locRib['ipv6-unicast'].prefixes, 6);

  const name = fixture.router.allPeers()[0].config.name;
  t.is((await call({ socketPath }, 'POST', `/api/v1/peers/${encodeURIComponent(name)}/reset`)).status, 202);
  type Timeline = { transitions: { from: string; to: string; reason: string | null }[] };
  const timeline = async () =>
    (await call(tcp(api), 'GET', `/api/v1/ui/peers/${encodeURIComponent(name)}/timeline`)).json<Timeline>();
  await waitFor(async () => (await timeline()).transitions.some((x) => x.from === 'Established'), {
    timeoutMs: 5000,
    what: 'the reset in the timeline',
  });
  const down = (await timeline()).transitions.find((x) => x.from === 'Established')!;
  t.regex(down.reason ?? '', /reset by the operator|Administrative Reset/i);
  t.is((await call(tcp(api), 'GET', '/api/v1/ui/peers/nobody/timeline')).status, 404);
});

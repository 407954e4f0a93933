// The control socket: created mode 0660 and removed on stop; a stale socket file is replaced, a live
// one or a non-socket is refused; a peer reset restarts its session; the log level changes at runtime
// (peers' child loggers follow); reload calls the daemon's hook; bad requests get 4xx JSON.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionState } from '../../src/bgp/session/fsm.ts';
import { Router } from '../../src/daemon/router.ts';
import { ApiServer } from '../../src/api/server.ts';
import type { ReloadResult } from '../../src/api/server.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { BrindleMetrics } from '../../src/metrics/registry.ts';
import { routerSource } from '../../src/metrics/source.ts';
import { waitFor } from '../helpers/netns.ts';
import { call, LogCapture, reflectorFixture, startApi } from './support.ts';

function bareRouter(t: { teardown(fn: () => Promise<void>): void }): Router {
  const router = new Router({ routerId: parseIpv4('10.0.0.1'), localAs: 64512 });
  t.teardown(() => router.close());
  return router;
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-sock-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function startOn(router: Router, socketPath: string): Promise<ApiServer> {
  const source = routerSource(router);
  return ApiServer.start({
    source,
    metrics: new BrindleMetrics(source, { processMetrics: false }),
    log: new LogCapture().log,
    socketPath,
  });
}

test('the socket is created mode 0660 in a new directory and removed on stop', async (t) => {
  const { api, socketPath } = await startApi(t, bareRouter(t));
  const stat = lstatSync(socketPath);
  t.true(stat.isSocket());
  t.is(stat.mode & 0o777, 0o660);
  t.is((await call({ socketPath }, 'GET', '/api/v1/status')).status, 200, 'serves the read-only API too');
  await api.close();
  t.false(existsSync(socketPath));
});

test('a stale socket file left by a killed process is replaced', async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, 'brindle.sock');
  // A process that listens on the path and dies by SIGKILL leaves the file behind, refusing connections.
  const child = spawn(
    process.execPath,
    ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('up'))`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  t.true(lstatSync(socketPath).isSocket(), 'the stale file is there');

  const api = await startOn(bareRouter(t), socketPath);
  t.teardown(() => api.close());
  t.is((await call({ socketPath }, 'GET', '/health/live')).status, 200);
});

test('a socket another process answers on, or a file that is not a socket, is left alone', async (t) => {
  const dir = await tempDir(t);
  const live = join(dir, 'live.sock');
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(live, resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  await t.throwsAsync(startOn(bareRouter(t), live), { message: /in use/ });
  t.true(lstatSync(live).isSocket());

  const plain = join(dir, 'plain.sock');
  writeFileSync(plain, 'precious');
  await t.throwsAsync(startOn(bareRouter(t), plain), { message: /not a socket/ });
  t.is(readFileSync(plain, 'utf8'), 'precious');
});

test('POST /api/v1/peers/NAME/reset restarts the session with Cease/Administrative Reset', async (t) => {
  const fixture = await reflectorFixture(t);
  const { socketPath } = await startApi(t, fixture.router);
  const [peer] = fixture.router.allPeers();
  t.is(peer.counters.establishedCount, 1);

  const res = await call({ socketPath }, 'POST', `/api/v1/peers/${peer.config.name}/reset`);
  t.is(res.status, 202);
  t.like(res.json(), { peer: peer.config.name, before: 'Established' });
  t.is(peer.counters.notificationsSent.get('6/4'), 1, 'Cease/Administrative Reset sent');
  await waitFor(() => peer.state === SessionState.Established && peer.counters.establishedCount === 2, {
    timeoutMs: 10_000,
    what: 'the session to come back',
  });
  const byAddress = await call({ socketPath }, 'POST', `/api/v1/peers/${peer.config.remoteAddress}/reset`);
  t.is(byAddress.status, 202, 'a peer can be named by its address');
});

test('the log level changes at runtime, for the peers’ loggers too', async (t) => {
  const logs = new LogCapture('info');
  const fixture = await reflectorFixture(t, logs.log);
  const { socketPath } = await startApi(t, fixture.router, { log: logs.log });
  const [peer] = fixture.router.allPeers();
  const put = (level: string) =>
    call({ socketPath }, 'PUT', '/api/v1/log-level', {
      body: JSON.stringify({ level }),
      headers: { 'content-type': 'application/json' },
    });

  const quiet = await put('warn');
  t.is(quiet.status, 200);
  t.deepEqual(quiet.json(), { level: 'warn', previous: 'info' });
  t.is(logs.events('log-level').length, 1, 'the change is logged before info goes quiet');
  t.like(
    logs.events('log-level')[0],
    { level: 30, from: 'info', to: 'warn' },
    "pino's own level field intact",
  );
  const before = logs.events('state').length;
  peer.reset();
  await waitFor(() => peer.counters.establishedCount === 2 && peer.state === SessionState.Established, {
    timeoutMs: 10_000,
    what: 'the session to come back',
  });
  t.is(logs.events('state').length, before, "a peer's state changes are not logged at warn");

  t.is((await put('debug')).status, 200);
  t.deepEqual((await call({ socketPath }, 'GET', '/api/v1/log-level')).json(), { level: 'debug' });
  peer.reset();
  await waitFor(() => logs.events('state').some((l) => l.peer === peer.config.name && l.to === 'Idle'), {
    timeoutMs: 5000,
    what: "the peer's state change in the log",
  });
  t.true(logs.events('api-request').length > 0, 'debug lines appear');
  t.is(logs.events('log-level').length, 2);
});

test('POST /api/v1/reload runs the daemon’s reload and reports its result', async (t) => {
  const router = bareRouter(t);
  let result: ReloadResult = { ok: true, level: 'info' };
  let calls = 0;
  const { socketPath } = await startApi(t, router, {
    reload: () => {
      calls++;
      return result;
    },
  });
  const ok = await call({ socketPath }, 'POST', '/api/v1/reload');
  t.is(ok.status, 200);
  t.deepEqual(ok.json(), { reloaded: true, level: 'info' });
  result = { ok: false, errors: ['log.level: must be one of the possible values'] };
  const bad = await call({ socketPath }, 'POST', '/api/v1/reload');
  t.is(bad.status, 422);
  t.deepEqual(bad.json<{ errors: string[] }>().errors, result.errors);
  t.is(calls, 2);

  const none = await startApi(t, bareRouter(t));
  t.is((await call({ socketPath: none.socketPath }, 'POST', '/api/v1/reload')).status, 501);
});

test('bad commands get 4xx JSON errors', async (t) => {
  const fixture = await reflectorFixture(t);
  const { socketPath } = await startApi(t, fixture.router);
  const json = { 'content-type': 'application/json' };
  const cases: [string, string, { body?: string; headers?: Record<string, string> }, number, RegExp][] = [
    ['PUT', '/api/v1/log-level', { body: '{"level":', headers: json }, 400, /not valid JSON/],
    ['PUT', '/api/v1/log-level', { headers: json }, 400, /expected a JSON body/],
    ['PUT', '/api/v1/log-level', { body: '{"level":"loud"}', headers: json }, 400, /level must be one of/],
    ['PUT', '/api/v1/log-level', { body: '[]', headers: json }, 400, /level must be one of/],
    [
      'PUT',
      '/api/v1/log-level',
      { body: 'level=debug', headers: { 'content-type': 'text/plain' } },
      415,
      /application\/json/,
    ],
    [
      'PUT',
      '/api/v1/log-level',
      { body: JSON.stringify({ level: 'x'.repeat(70_000) }), headers: json },
      413,
      /over/,
    ],
    ['POST', '/api/v1/peers/nobody/reset', {}, 404, /no peer/],
    ['GET', '/api/v1/peers/nobody/reset', {}, 405, /not allowed/],
    ['POST', '/api/v1/log-level', {}, 405, /not allowed/],
  ];
  for (const [method, path, options, status, message] of cases) {
    const res = await call({ socketPath }, method, path, options);
    t.is(res.status, status, `${method} ${path} ${options.body?.slice(0, 20) ?? ''}`);
    t.regex(res.json<{ error: string }>().error, message);
  }
  t.is(
    fixture.router.allPeers().filter((p) => p.state === SessionState.Established).length,
    2,
    'nothing changed',
  );
});

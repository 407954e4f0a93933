// The restart state file (bgp.restartStateFile): a start within the Restart Time of the previous
// run's last heartbeat is a graceful restart; a clean stop (Cease sent), a stale file, an absent or
// unreadable one are not.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RestartStateFile, routesKeptSec } from '../../src/daemon/restart-state.ts';
import { silentLogger } from '../../src/lib/log.ts';

async function file(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-restart-state-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'sub', 'bgp-restart-state');
}

test('a start within the Restart Time of the last heartbeat is a restart; later it is not', async (t) => {
  const path = await file(t);
  let now = 1_000_000;
  const previous = new RestartStateFile(path, silentLogger, () => now);
  t.false(previous.previousRunRestarting(), 'first start: no file');
  previous.alive(120);
  previous.stopHeartbeat(); // a crash leaves the file
  now += 100_000;
  t.true(new RestartStateFile(path, silentLogger, () => now).previousRunRestarting());
  now += 30_000;
  t.false(
    new RestartStateFile(path, silentLogger, () => now).previousRunRestarting(),
    'peers dropped the routes',
  );
});

test('a clean stop removes the file; a Restart Time of 0 (no graceful restart) is no restart', async (t) => {
  const path = await file(t);
  const now = () => 5_000;
  const run = new RestartStateFile(path, silentLogger, now);
  run.alive(120);
  run.stoppedCleanly();
  t.false(new RestartStateFile(path, silentLogger, now).previousRunRestarting());
  const plain = new RestartStateFile(path, silentLogger, now);
  plain.alive(0);
  plain.stopHeartbeat();
  t.false(new RestartStateFile(path, silentLogger, now).previousRunRestarting(), 'peers kept nothing');
});

test('an unreadable file is no restart', async (t) => {
  const path = await file(t);
  const state = new RestartStateFile(path, silentLogger);
  state.alive(120);
  state.stopHeartbeat();
  await writeFile(path, 'not json');
  t.false(new RestartStateFile(path, silentLogger).previousRunRestarting());
});

test('a stop for a planned restart dates the file to the stop: the next start within the Restart Time is a restart', async (t) => {
  const path = await file(t);
  let now = 1_000_000;
  const run = new RestartStateFile(path, silentLogger, () => now);
  run.alive(120);
  now += 4_000; // past the last heartbeat, as a stop between two would be
  t.true(run.stoppedForRestart());
  now += 119_000;
  t.true(new RestartStateFile(path, silentLogger, () => now).previousRunRestarting());
  const none = new RestartStateFile(`${path}-none`, silentLogger, () => now);
  none.alive(0);
  t.false(none.stoppedForRestart(), 'no Restart Time announced: no graceful restart to record');
});

test('peers keep the routes for the Restart Time, and on an LLGR session for the long-lived stale time after it', (t) => {
  t.is(routesKeptSec({ gracefulRestartTimeSec: 120 }), 120);
  t.is(routesKeptSec({ gracefulRestartTimeSec: 3, longLivedStaleTimeSec: 3600 }), 3603);
});

// The FIB engine against an in-memory kernel (fake-kernel.ts) and a ManualClock: coalescing, batching,
// reconcile, refusals and backoff, restoring what others change, links, stop. The same behaviours
// against the real kernel, in a namespace, are in kernel.test.ts.
import test from 'ava';
import { ManualClock } from '../../src/lib/clock.ts';
import { formatPrefix } from '../../src/lib/prefix.ts';
import { Fib } from '../../src/fib/fib.ts';
import type { FibOptions, FibStatus } from '../../src/fib/fib.ts';
import { IFF_UP, RT_SCOPE_UNIVERSE, RTN_UNICAST } from '../../src/fib/netlink.ts';
import type { FibRoute, KernelRoute } from '../../src/fib/types.ts';
import { FakeKernel, prefix } from './fake-kernel.ts';

const TABLE = 100;
const OURS = 196;
const STATIC = 4;

function via(dst: string, ...gateways: string[]): FibRoute {
  return { prefix: prefix(dst), kind: 'unicast', nextHops: gateways.map((gateway) => ({ gateway })) };
}

function kernelRoute(dst: string, gateway: string, protocol = OURS, metric = 0): KernelRoute {
  return {
    prefix: prefix(dst),
    table: TABLE,
    protocol,
    type: RTN_UNICAST,
    scope: RT_SCOPE_UNIVERSE,
    metric,
    nextHops: [{ gateway, ifindex: 2, flags: 0, weight: 1 }],
  };
}

function setup(options: FibOptions = {}) {
  const kernel = new FakeKernel();
  const clock = new ManualClock();
  const fib = new Fib(kernel, {
    table: TABLE,
    protocol: OURS,
    clock,
    retryInitialMs: 1_000,
    retryMaxMs: 5_000,
    ...options,
  });
  return { kernel, clock, fib };
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Idle, and the notifications of what was written have been seen (and acted on) too. */
async function quiesce(fib: Fib): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await fib.idle();
    await tick();
  }
}

function gatewaysOf(kernel: FakeKernel, dst: string): (string | undefined)[] {
  return kernel.find(dst).flatMap((r) => r.nextHops.map((h) => h.gateway));
}

test('a prefix changed 100 times before the flush is written once, with the last value', async (t) => {
  const { kernel, fib } = setup();
  await fib.start();
  for (let i = 0; i < 100; i++) fib.setDesired(via('10.9.0.0/24', `10.0.0.${(i % 50) + 2}`));
  t.is(fib.status.backlog, 1);
  await quiesce(fib);
  t.is(kernel.written.length, 1);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.51']);
  fib.setDesired(via('10.9.0.0/24', '10.0.0.51'));
  await quiesce(fib);
  t.is(kernel.written.length, 1, 'wanting what is installed writes nothing');
});

test('setDesired returns at once; backlog and status$ say what is pending', async (t) => {
  const { kernel, fib } = setup({ maxBatchesInFlight: 1 });
  await fib.start();
  const seen: FibStatus[] = [];
  fib.status$.subscribe((s) => seen.push(s));
  for (let i = 0; i < 1_000; i++) fib.setDesired(via(`10.${i >> 8}.${i & 255}.0/24`, '10.0.0.2'));
  t.like(fib.status, { desired: 1_000, backlog: 1_000, installed: 0 });
  await quiesce(fib);
  t.like(fib.status, { desired: 1_000, backlog: 0, installed: 1_000, failed: 0 });
  t.like(seen.at(-1), { backlog: 0, installed: 1_000 });
  t.true(
    seen.some((s) => s.backlog > 0 && s.backlog < 1_000),
    'progress is reported',
  );
  t.is(kernel.applyCalls, 4, '1,000 routes in batches of at most 256');
  t.true(
    kernel.written.every((op) => op.op === 'add'),
    'new routes are added with NLM_F_EXCL',
  );
});

test('start() reconciles: stale ours deleted, foreign untouched, matching kept, different replaced, missing added', async (t) => {
  const { kernel, fib } = setup();
  kernel.external('new', kernelRoute('10.1.0.0/24', '10.0.0.2')); // ours, stale
  kernel.external('new', kernelRoute('10.2.0.0/24', '10.0.0.2')); // ours, as desired
  kernel.external('new', kernelRoute('10.3.0.0/24', '10.0.0.2')); // ours, different gateway wanted
  kernel.external('new', kernelRoute('10.4.0.0/24', '10.0.0.2', STATIC)); // foreign, not ours to judge
  kernel.external('new', kernelRoute('10.5.0.0/24', '10.0.0.2', OURS, 50)); // ours at an old metric
  await tick();
  for (const dst of ['10.2.0.0/24', '10.6.0.0/24']) fib.setDesired(via(dst, '10.0.0.2'));
  fib.setDesired(via('10.3.0.0/24', '10.0.0.3'));
  const summary = await fib.start();
  await quiesce(fib);
  t.deepEqual(summary, { kept: 1, added: 1, replaced: 1, deleted: 2, failed: 0 });
  t.deepEqual(kernel.find('10.1.0.0/24'), []);
  t.deepEqual(kernel.find('10.5.0.0/24'), []);
  t.deepEqual(gatewaysOf(kernel, '10.3.0.0/24'), ['10.0.0.3']);
  t.deepEqual(gatewaysOf(kernel, '10.6.0.0/24'), ['10.0.0.2']);
  t.is(kernel.find('10.4.0.0/24')[0]?.protocol, STATIC);
  const written = kernel.written.map((op) => `${op.op} ${formatPrefix(op.route.prefix)}`).sort();
  t.deepEqual(written, [
    'add 10.6.0.0/24',
    'delete 10.1.0.0/24',
    'delete 10.5.0.0/24',
    'replace 10.3.0.0/24',
  ]);
});

test('a foreign route at a desired prefix and metric is a counted conflict (EEXIST), never replaced', async (t) => {
  const { kernel, fib, clock } = setup();
  kernel.external('new', kernelRoute('10.4.0.0/24', '10.0.0.9', STATIC));
  fib.setDesired(via('10.4.0.0/24', '10.0.0.2'));
  const summary = await fib.start();
  t.like(summary, { added: 0, failed: 1 });
  t.like(fib.failures()[0], { prefix: '10.4.0.0/24', code: 'EEXIST' });
  t.deepEqual(gatewaysOf(kernel, '10.4.0.0/24'), ['10.0.0.9']);
  // Once the foreign route goes, the retry installs ours.
  kernel.external('delete', kernelRoute('10.4.0.0/24', '10.0.0.9', STATIC));
  clock.advance(1_000);
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.4.0.0/24'), ['10.0.0.2']);
  t.is(fib.status.failed, 0);
});

test('a refused write is counted with its errno and retried with bounded backoff; other routes are unaffected', async (t) => {
  const { kernel, fib, clock } = setup();
  const failures: string[] = [];
  fib.failures$.subscribe((f) => failures.push(`${f.prefix} ${f.code} #${f.attempts} +${f.retryInMs}`));
  await fib.start();
  fib.setDesired(via('10.8.0.0/24', '10.0.0.2'));
  fib.setDesired(via('10.9.0.0/24', '10.7.0.2')); // no connected route to 10.7.0.2
  fib.setDesired(via('10.10.0.0/24', '10.0.0.3'));
  await quiesce(fib);
  t.is(kernel.find('10.8.0.0/24').length + kernel.find('10.10.0.0/24').length, 2);
  t.like(fib.failures()[0], { prefix: '10.9.0.0/24', errno: 101, code: 'ENETUNREACH', attempts: 1 });
  for (const delay of [1_000, 2_000, 4_000, 5_000, 5_000]) {
    clock.advance(delay);
    await quiesce(fib);
  }
  t.deepEqual(
    failures,
    [1_000, 2_000, 4_000, 5_000, 5_000, 5_000].map((d, i) => `10.9.0.0/24 ENETUNREACH #${i + 1} +${d}`),
  );
  t.is(fib.counters.writeFailures, 6);
  kernel.connected.push('10.7.0.0/24');
  clock.advance(5_000);
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.7.0.2']);
  t.deepEqual(fib.failures(), []);
});

test('a changed wish cancels the backoff and is written at once', async (t) => {
  const { kernel, fib } = setup();
  await fib.start();
  fib.setDesired(via('10.9.0.0/24', '10.7.0.2'));
  await quiesce(fib);
  t.is(fib.status.failed, 1);
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  t.is(fib.status.failed, 0);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.2']);
});

test('a route of ours deleted or changed by someone else is restored; a foreign replace becomes a conflict', async (t) => {
  const { kernel, fib } = setup();
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  await fib.start();
  kernel.external('delete', kernelRoute('10.9.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.2']);
  kernel.external('new', kernelRoute('10.9.0.0/24', '10.0.0.7'), true);
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.2']);
  t.is(fib.counters.restored, 2);
  // `ip route replace … proto static` takes the prefix from us: we may not take it back.
  kernel.external('new', kernelRoute('10.9.0.0/24', '10.0.0.8', STATIC), true);
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.8']);
  t.like(fib.failures()[0], { code: 'EEXIST' });
});

test('a route someone else keeps rewriting is restored a bounded number of times', async (t) => {
  const { kernel, fib } = setup();
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  await fib.start();
  for (let i = 0; i < 8; i++) {
    kernel.external('new', kernelRoute('10.9.0.0/24', '10.0.0.7'), true);
    await quiesce(fib);
  }
  t.is(fib.counters.restored, 5);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.7']);
});

test('a route of ours nobody wants (added by hand with our protocol) is deleted', async (t) => {
  const { kernel, fib } = setup();
  await fib.start();
  kernel.external('new', kernelRoute('10.9.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  t.deepEqual(kernel.find('10.9.0.0/24'), []);
});

test('link down drops routes without notice; link up brings them back', async (t) => {
  const { kernel, fib, clock } = setup({ resyncDelayMs: 50 });
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  fib.setDesired({ prefix: prefix('10.9.1.0/24'), kind: 'blackhole', nextHops: [] });
  await fib.start();
  kernel.linkDown('v0');
  await tick();
  clock.advance(50);
  await quiesce(fib);
  t.deepEqual(kernel.find('10.9.0.0/24'), []);
  t.like(fib.failures()[0], { prefix: '10.9.0.0/24', code: 'ENETUNREACH' });
  t.is(kernel.find('10.9.1.0/24').length, 1, 'routes not via the link stay');
  kernel.linkUp('v0');
  await tick();
  clock.advance(50);
  await quiesce(fib);
  t.deepEqual(gatewaysOf(kernel, '10.9.0.0/24'), ['10.0.0.2']);
  t.is(fib.status.failed, 0);
});

test('an unknown device is ENODEV without a write; the device appearing retries at once', async (t) => {
  const { kernel, fib, clock } = setup({ resyncDelayMs: 10 });
  fib.setDesired({ prefix: prefix('10.9.0.0/24'), kind: 'unicast', nextHops: [{ device: 'eth7' }] });
  const summary = await fib.start();
  t.is(summary.failed, 1);
  t.like(fib.failures()[0], { code: 'ENODEV', message: 'device eth7 does not exist' });
  t.is(kernel.written.length, 0);
  kernel.addLink({ ifindex: 7, name: 'eth7', flags: IFF_UP });
  await tick();
  clock.advance(10);
  await quiesce(fib);
  t.is(kernel.find('10.9.0.0/24')[0]?.nextHops[0].ifindex, 7);
});

test('stop: keepRoutes leaves every route; otherwise only ours are removed', async (t) => {
  const { kernel, fib } = setup({ keepRoutesOnStop: true });
  kernel.external('new', kernelRoute('10.4.0.0/24', '10.0.0.2', STATIC));
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  await fib.start();
  await fib.stop();
  t.is(kernel.routes.size, 2);
  t.is(kernel.opened, 0);
  await fib.start();
  t.is(kernel.written.length, 1, 'the restart found everything in place');
  await fib.stop({ keepRoutes: false });
  t.deepEqual(
    [...kernel.routes.values()].map((r) => r.protocol),
    [STATIC],
  );
});

test('deferPrune keeps stale routes (graceful restart) until prune()', async (t) => {
  const { kernel, fib } = setup();
  kernel.external('new', kernelRoute('10.1.0.0/24', '10.0.0.2'));
  kernel.external('new', kernelRoute('10.2.0.0/24', '10.0.0.2'));
  await tick();
  const summary = await fib.start({ deferPrune: true });
  t.like(summary, { deleted: 0 });
  fib.setDesired(via('10.2.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  t.is(kernel.routes.size, 2);
  t.is(await fib.prune(), 1);
  await quiesce(fib);
  t.deepEqual(
    [...kernel.routes.values()].map((r) => formatPrefix(r.prefix)),
    ['10.2.0.0/24'],
  );
  t.is(kernel.written.length, 1, 'the route that was already right was never rewritten');
});

test('while the prune is deferred, a route withdrawn during this run is still deleted at once', async (t) => {
  const { kernel, fib } = setup();
  kernel.external('new', kernelRoute('10.1.0.0/24', '10.0.0.2'));
  await tick();
  await fib.start({ deferPrune: true });
  fib.setDesired(via('10.3.0.0/24', '10.0.0.2'));
  fib.setDesired(via('10.1.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  fib.remove(prefix('10.3.0.0/24'));
  fib.remove(prefix('10.1.0.0/24'));
  await quiesce(fib);
  t.deepEqual(
    [...kernel.routes.values()].map((r) => formatPrefix(r.prefix)),
    [],
    'both were spoken for in this run: a withdrawal is not a leftover of the previous run',
  );
});

test('remove() deletes ours; removing what was never written writes nothing', async (t) => {
  const { kernel, fib } = setup();
  await fib.start();
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  fib.remove(prefix('10.9.0.0/24'));
  fib.remove(prefix('10.8.0.0/24'));
  await quiesce(fib);
  t.is(kernel.written.length, 0);
  fib.setDesired(via('10.9.0.0/24', '10.0.0.2'));
  await quiesce(fib);
  fib.remove(prefix('10.9.0.0/24'));
  await quiesce(fib);
  t.deepEqual(
    kernel.written.map((op) => op.op),
    ['add', 'delete'],
  );
  t.is(fib.status.installed, 0);
});

test('invalid routes are refused synchronously with the prefix named', (t) => {
  const { fib } = setup();
  t.throws(() => fib.setDesired(via('10.9.0.0/24', '2001:db8::1')), {
    message: /10\.9\.0\.0\/24.*not an IPv4 address/,
  });
  t.throws(() => fib.setDesired({ prefix: prefix('10.9.0.0/24'), kind: 'unicast', nextHops: [] }), {
    message: /needs a next hop/,
  });
  t.throws(
    () =>
      fib.setDesired({
        prefix: prefix('10.9.0.0/24'),
        kind: 'unicast',
        nextHops: [{ gateway: '10.0.0.2', onlink: true }],
      }),
    {
      message: /onlink next hop needs a device/,
    },
  );
});

test('a metric change is an add at the new metric, acknowledged before the old route is deleted', async (t) => {
  const { kernel, fib } = setup();
  await fib.start();
  fib.setDesired({ ...via('10.9.0.0/24', '10.0.0.2'), metric: 1024 });
  await quiesce(fib);
  const metrics = () => kernel.find('10.9.0.0/24').map((r) => r.metric);
  t.deepEqual(metrics(), [1024]);
  const callsBefore = kernel.applyCalls;
  const writtenBefore = kernel.written.length;
  fib.setDesired({ ...via('10.9.0.0/24', '10.0.0.2'), metric: 1000 });
  await quiesce(fib);
  t.deepEqual(metrics(), [1000]);
  const ops = kernel.written.slice(writtenBefore).map((op) => `${op.op} ${op.route.metric}`);
  t.deepEqual(ops, ['add 1000', 'delete 1024']);
  t.is(kernel.applyCalls - callsBefore, 2, 'the delete goes out only after the add was acknowledged');
  t.like(fib.status, { installed: 1, backlog: 0 });
  t.is([...fib.routeReports()][0]?.state, 'installed');
});

test('start() moves a route of ours found at another metric to the desired one, add before delete', async (t) => {
  const { kernel, fib } = setup();
  kernel.external('new', kernelRoute('10.5.0.0/24', '10.0.0.2', OURS, 50));
  await tick();
  fib.setDesired({ ...via('10.5.0.0/24', '10.0.0.2'), metric: 1024 });
  const summary = await fib.start({ deferPrune: true });
  await quiesce(fib);
  t.like(summary, { replaced: 1, deleted: 0 });
  t.deepEqual(
    kernel.find('10.5.0.0/24').map((r) => r.metric),
    [1024],
  );
  t.deepEqual(
    kernel.written.map((op) => `${op.op} ${op.route.metric}`),
    ['add 1024', 'delete 50'],
  );
});

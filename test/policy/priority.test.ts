// Route priority ↔ LOCAL_PREF and the kernel metric of a learned route (calico-routing.md §4.3): one
// formula, `metric = 2147483647 − LOCAL_PREF`, with the normal priority as the reference point.
import test from 'ava';
import {
  DEFAULT_NORMAL_PRIORITY,
  kernelMetric,
  localPrefOf,
  normalPriorities,
  PRIORITY_BASE,
} from '../../src/policy/priority.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';

const learned = (localPref?: number): RouteAttributes => ({ localPref });
const NORMAL = DEFAULT_NORMAL_PRIORITY;

test('a route at the normal LOCAL_PREF gets the normal metric (Felix’s, 1024 by default)', (t) => {
  t.is(kernelMetric(learned(localPrefOf(NORMAL)), NORMAL), 1024);
  t.is(kernelMetric(learned(localPrefOf(512)), 512), 512, 'whatever the configured normal priority');
});

test('a better LOCAL_PREF gives a lower metric, a worse one a higher metric', (t) => {
  t.is(kernelMetric(learned(localPrefOf(NORMAL) + 100), NORMAL), 924);
  t.is(kernelMetric(learned(localPrefOf(NORMAL) - 100), NORMAL), 1124);
  t.is(kernelMetric(learned(localPrefOf(1)), NORMAL), 1, 'the best priority Calico accepts');
});

test('no LOCAL_PREF: BIRD attaches its default, 100, so the metric is 2147483647 − 100', (t) => {
  t.is(kernelMetric(learned(undefined), NORMAL), PRIORITY_BASE - 100);
  t.is(kernelMetric(learned(100), NORMAL), 2147483547);
});

test('bounds: LOCAL_PREF 0 gives 2^31−1; one above 2^31−1 is held at metric 0', (t) => {
  t.is(kernelMetric(learned(0), NORMAL), 2147483647);
  t.is(kernelMetric(learned(PRIORITY_BASE), NORMAL), 0);
  t.is(kernelMetric(learned(0xffffffff), NORMAL), 0, 'never negative: RTA_PRIORITY is a u32');
});

test('the normal priorities come from the default BGPConfiguration, 1024 each otherwise', (t) => {
  t.deepEqual(normalPriorities([]), { ipv4: 1024, ipv6: 1024 });
  const config = { metadata: { name: 'default' }, spec: { ipv4NormalRoutePriority: 200 } };
  t.deepEqual(normalPriorities([config] as never), { ipv4: 200, ipv6: 1024 });
});

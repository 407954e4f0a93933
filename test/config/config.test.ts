import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadConfig } from '../../src/config/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'brindle-config-'));
let files = 0;

/** Loads `yaml` as a config file with `env` as the whole environment. */
function load(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `c${files++}.yaml`);
  writeFileSync(file, yaml);
  return loadConfig(file, env);
}

function errorsOf(yaml: string, env: NodeJS.ProcessEnv = {}): string[] {
  const result = load(yaml, env);
  return result.ok ? [] : result.errors;
}

test('the shipped defaults are valid and the booleans are booleans', (t) => {
  const result = load('{}');
  if (!result.ok) return t.fail(result.errors.join('\n'));
  t.is(result.config.fib.enabled, true);
  t.is(result.config.bgp.gracefulRestart, true);
  t.is(result.config.fib.table, 254);
  t.is(result.config.fib.protocol, 205);
  t.is(result.config.bgp.llgrRestartTimeSec, 120);
});

test('a boolean is true or false, never a word coerced to true', (t) => {
  t.deepEqual(errorsOf('fib:\n  enabled: flase\n'), [
    'fib.enabled: must be true or false: value was "flase"',
  ]);
  t.deepEqual(errorsOf('fib:\n  keepRoutesOnStop: 1\n'), [
    'fib.keepRoutesOnStop: must be true or false: value was 1',
  ]);
  t.deepEqual(errorsOf('{}', { BRINDLE_BGP_GRACEFUL_RESTART: 'nope' }), [
    'bgp.gracefulRestart: must be true or false: value was "nope"',
  ]);
  const fromEnv = load('{}', { BRINDLE_BGP_GRACEFUL_RESTART: 'false', BRINDLE_FIB_ENABLED: 'true' });
  t.true(fromEnv.ok && fromEnv.config.bgp.gracefulRestart === false && fromEnv.config.fib.enabled === true);
});

test('numbers are checked for range, and the kernel tables and protocols Brindle must not own are refused', (t) => {
  const cases: [string, NodeJS.ProcessEnv, string][] = [
    ['fib:\n  protocol: 300\n', {}, 'fib.protocol: must be a whole number from 5 to 255'],
    ['fib:\n  protocol: 2\n', {}, 'fib.protocol: must be a whole number from 5 to 255'],
    ['fib:\n  table: 0\n', {}, 'fib.table: must be a whole number from 1 to 4294967295'],
    ['fib:\n  table: 255\n', {}, 'fib.table: 255 is reserved (not 255, the local table)'],
    ['fib:\n  table: 1.5\n', {}, 'fib.table: must be a whole number'],
    ['{}', { BRINDLE_FIB_TABLE: '12abc' }, 'fib.table: must be a whole number'],
    ['bgp:\n  listenPort: 0\n', {}, 'bgp.listenPort: must be a whole number from 1 to 65535'],
    ['bgp:\n  listenPort: 70000\n', {}, 'bgp.listenPort: must be a whole number from 1 to 65535'],
    [
      '{}',
      { BRINDLE_BGP_LLGR_RESTART_TIME: '4096' },
      'bgp.llgrRestartTimeSec: must be a whole number from 0 to 4095',
    ],
    ['api:\n  listen: 127.0.0.1:99999\n', {}, 'api.listen: the port must be from 0 to 65535'],
    ['api:\n  listen: 300.0.0.1:9179\n', {}, 'api.listen: 300.0.0.1 is not an IPv4 address'],
  ];
  for (const [yaml, env, expected] of cases) {
    const errors = errorsOf(yaml, env);
    t.is(errors.length, 1, `${yaml} ${JSON.stringify(env)}: ${errors.join('; ')}`);
    t.true(errors[0]?.startsWith(expected), `${errors[0]} should start with ${expected}`);
  }
});

test('addresses, names and paths are checked for what they are', (t) => {
  const cases: [string, string][] = [
    [
      'node:\n  ipv4Address: fd00::1/64\n',
      'node.ipv4Address: must be an IPv4 address with its prefix length',
    ],
    ['node:\n  ipv4Address: 10.0.0.1/33\n', 'node.ipv4Address: must be an IPv4 address'],
    ['node:\n  ipv6Address: 10.0.0.1/24\n', 'node.ipv6Address: must be an IPv6 address'],
    ['nodeName: Node_1\n', 'nodeName: must be a lowercase RFC 1123 name'],
    ["nodeName: ''\n", 'nodeName: must be a lowercase RFC 1123 name'],
    ["datastore:\n  path: ''\n", 'datastore.path: must not be empty'],
    ['datastore:\n  etcdPrefix: brindle\n', 'datastore.etcdPrefix: must start and end with "/"'],
  ];
  for (const [yaml, expected] of cases) {
    const errors = errorsOf(yaml);
    t.is(errors.length, 1, `${yaml}: ${errors.join('; ')}`);
    t.true(errors[0]?.startsWith(expected), `${errors[0]} should start with ${expected}`);
  }
  const good = load(
    'nodeName: node-1.rack-2\nnode:\n  ipv4Address: 10.0.0.11/24\n  ipv6Address: fd00::11/64\n',
  );
  t.true(good.ok, good.ok ? '' : good.errors.join('\n'));
});

test('every bad setting is reported at once, and an unknown one is an error', (t) => {
  const errors = errorsOf('fib:\n  enabled: flase\n  table: 0\nbgp:\n  listenPrt: 1179\n');
  t.is(errors.length, 3, errors.join('\n'));
  t.true(errors.some((e) => e.includes('bgp.listenPrt')));
});

test('without --config: $BRINDLE_CONFIG, the system file, the checkout npm start ran in, then defaults', async (t) => {
  const { defaultConfig } = await import('../../src/config/config.ts');
  const { mkdirSync } = await import('node:fs');
  const root = mkdtempSync(join(tmpdir(), 'brindle-root-'));
  const system = join(root, 'etc-brindle.yaml');
  t.deepEqual(defaultConfig({ BRINDLE_CONFIG: '/x.yaml' }, root, system), {
    file: '/x.yaml',
    source: 'environment',
  });
  t.deepEqual(defaultConfig({}, root, system), { source: 'defaults' });
  mkdirSync(join(root, 'config'));
  writeFileSync(
    join(root, 'config', 'brindle.yaml'),
    'datastore: { type: embedded, path: .brindle/store }\napi: { socket: .brindle/brindle.sock }\n',
  );
  t.deepEqual(
    defaultConfig({}, root, system),
    { source: 'defaults' },
    'not before npm start has made its store',
  );
  mkdirSync(join(root, '.brindle', 'store'), { recursive: true });
  const checkout = defaultConfig({}, root, system);
  t.deepEqual(checkout, { file: join(root, 'config', 'brindle.yaml'), baseDir: root, source: 'checkout' });
  // Its relative paths are the checkout's, from any working directory.
  const loaded = loadConfig(checkout.file, {}, checkout.baseDir);
  if (!loaded.ok) return t.fail(loaded.errors.join('\n'));
  t.is(loaded.config.datastore.path, join(root, '.brindle', 'store'));
  t.is(loaded.config.api.socket, join(root, '.brindle', 'brindle.sock'));
  writeFileSync(system, '{}');
  t.deepEqual(defaultConfig({}, root, system), { file: system, source: 'system' });
});

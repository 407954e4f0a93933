// BFDConfiguration and BGPPeer.failureDetectionMode as Calico Enterprise's reference page defines them:
// the sample YAML decodes, defaults apply, bad intervals and patterns are refused with their path, and
// the effective settings of one interface come out in microseconds.
import test from 'ava';
import { bfdSettingsFor, interfaceMatches } from '../../src/resources/bfd-configuration.ts';
import { defaultsApplied, formatValidationError, parseResources } from '../../src/resources/index.ts';
import type { BFDConfiguration } from '../../src/resources/index.ts';

const bfdConfig = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BFDConfiguration\nmetadata:\n  name: ${name}\nspec:\n${spec}`;

function parseConfig(yaml: string): BFDConfiguration {
  const { resources, errors } = parseResources(yaml);
  if (errors.length > 0) throw new Error(errors.map(formatValidationError).join('\n'));
  return resources[0] as BFDConfiguration;
}

const SAMPLE = bfdConfig(
  'default',
  `  nodeSelector: "all()"
  interfaces:
  - matchPattern: "*"
    minimumRecvInterval: 10ms
    minimumSendInterval: 100ms
    idleSendInterval: 1m
    multiplier: 5
`,
);

test('the reference sample decodes', (t) => {
  const config = parseConfig(SAMPLE);
  t.is(config.kind, 'BFDConfiguration');
  t.deepEqual(config.spec.interfaces?.[0], {
    matchPattern: '*',
    minimumRecvInterval: '10ms',
    minimumSendInterval: '100ms',
    idleSendInterval: '1m',
    multiplier: 5,
  });
});

test('defaults: 10ms receive, 100ms send, 1m idle, multiplier 5', (t) => {
  const config = parseConfig(bfdConfig('d', '  interfaces:\n  - matchPattern: eth0\n'));
  t.deepEqual(defaultsApplied(config).spec, {
    nodeSelector: 'all()',
    interfaces: [
      {
        matchPattern: 'eth0',
        minimumRecvInterval: '10ms',
        minimumSendInterval: '100ms',
        idleSendInterval: '1m',
        multiplier: 5,
      },
    ],
  });
  t.like(bfdSettingsFor([config], {}, 'eth0'), {
    detectMult: 5,
    requiredMinRxIntervalUs: 10_000,
    desiredMinTxIntervalUs: 100_000,
    idleTxIntervalUs: 60_000_000,
  });
});

const INVALID: readonly [string, string, string][] = [
  [
    'zero interval',
    '  - matchPattern: eth0\n    minimumSendInterval: 0s\n',
    'spec.interfaces[0].minimumSendInterval',
  ],
  [
    'sub-millisecond',
    '  - matchPattern: eth0\n    minimumRecvInterval: 1500us\n',
    'spec.interfaces[0].minimumRecvInterval',
  ],
  [
    'not a duration',
    '  - matchPattern: eth0\n    idleSendInterval: soon\n',
    'spec.interfaces[0].idleSendInterval',
  ],
  ['multiplier 0', '  - matchPattern: eth0\n    multiplier: 0\n', 'spec.interfaces[0].multiplier'],
  ['multiplier 256', '  - matchPattern: eth0\n    multiplier: 256\n', 'spec.interfaces[0].multiplier'],
  ['no pattern', '  - multiplier: 3\n', 'spec.interfaces[0].matchPattern'],
  ['bad pattern', '  - matchPattern: "eth 0"\n', 'spec.interfaces[0].matchPattern'],
  [
    'unknown field',
    '  - matchPattern: eth0\n    minimumRecvIntervall: 10ms\n',
    'spec.interfaces[0].minimumRecvIntervall',
  ],
];

for (const [what, interfaces, path] of INVALID) {
  test(`refused: ${what}`, (t) => {
    const { resources, errors } = parseResources(bfdConfig('x', `  interfaces:\n${interfaces}`));
    t.is(resources.length, 0);
    t.deepEqual(
      errors.map((e) => e.path),
      [path],
    );
  });
}

test('a bad nodeSelector is refused', (t) => {
  const { errors } = parseResources(bfdConfig('x', '  nodeSelector: "a =="\n'));
  t.deepEqual(
    errors.map((e) => e.path),
    ['spec.nodeSelector'],
  );
});

test('BGPPeer.failureDetectionMode: None and BFDIfDirectlyConnected, nothing else', (t) => {
  const peer = (mode: string) =>
    `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: p\nspec:\n  peerIP: 10.0.0.1\n  asNumber: 64512\n  failureDetectionMode: ${mode}\n`;
  for (const mode of ['None', 'BFDIfDirectlyConnected'])
    t.deepEqual(parseResources(peer(mode)).errors, [], mode);
  t.deepEqual(
    parseResources(peer('BFD')).errors.map((e) => e.path),
    ['spec.failureDetectionMode'],
  );
});

test('interface patterns: exact, prefix, all', (t) => {
  t.true(interfaceMatches('eth0', 'eth0'));
  t.false(interfaceMatches('eth0', 'eth01'));
  t.true(interfaceMatches('eth*', 'eth12'));
  t.false(interfaceMatches('eth*', 'veth1'));
  t.true(interfaceMatches('*', 'anything'));
  t.true(interfaceMatches('br-*', 'br-1.2'));
});

test('settings: the node selector and the first matching interface decide; names order configs', (t) => {
  const a = parseConfig(
    bfdConfig(
      'a-rack',
      `  nodeSelector: rack == "r1"\n  interfaces:\n  - matchPattern: eth0\n    multiplier: 3\n  - matchPattern: "eth*"\n    multiplier: 4\n`,
    ),
  );
  const b = parseConfig(bfdConfig('b-all', `  interfaces:\n  - matchPattern: "*"\n    multiplier: 7\n`));
  t.is(bfdSettingsFor([b, a], { rack: 'r1' }, 'eth0')?.detectMult, 3);
  t.is(bfdSettingsFor([b, a], { rack: 'r1' }, 'eth1')?.detectMult, 4);
  t.is(bfdSettingsFor([b, a], { rack: 'r1' }, 'ens3')?.detectMult, 7);
  t.is(bfdSettingsFor([b, a], { rack: 'r2' }, 'eth0')?.configuration, 'b-all');
  t.is(bfdSettingsFor([a], { rack: 'r2' }, 'eth0'), undefined);
});

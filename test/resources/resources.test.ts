import test from 'ava';
import {
  decodeResource,
  DEFAULTS,
  defaultsApplied,
  formatResource,
  formatValidationError,
  globalAsNumber,
  ipamMaxBlocksPerHost,
  ipPoolBlockSize,
  nodeToNodeMeshEnabled,
  parseAsNumber,
  parseDuration,
  parsePeerIp,
  parseResources,
  renderTable,
  resourceTable,
  validateResource,
} from '../../src/resources/index.ts';
import type { BGPConfiguration, BGPPeer, IPPool, Node, Resource } from '../../src/resources/index.ts';

function parseOne(yaml: string): Resource {
  const { resources, errors } = parseResources(yaml);
  if (errors.length > 0) throw new Error(errors.map(formatValidationError).join('\n'));
  return resources[0];
}

const peer = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const pool = (spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n${spec}`;
const bgpConfig = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: ${name}\nspec:\n${spec}`;
const ipam = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: IPAMConfiguration\nmetadata:\n  name: ${name}\nspec:\n${spec}`;

test('AS numbers: plain and dotted, as numbers or strings', (t) => {
  const cases: [unknown, number | undefined][] = [
    [64512, 64512],
    ['64512', 64512],
    ['1.10', 65546],
    ['65535.65535', 4294967295],
    [4294967295, 4294967295],
    [4294967296, undefined],
    ['1.65536', undefined],
    ['1.2.3', undefined],
    [-1, undefined],
    [1.5, undefined],
    ['', undefined],
    [true, undefined],
  ];
  for (const [input, expected] of cases) t.is(parseAsNumber(input), expected, String(input));
  // A dotted AS written bare in YAML is not read as the float 1.1.
  const node = parseOne(
    'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n}\nspec: {bgp: {asNumber: 1.10, ipv4Address: 10.0.0.1}}',
  ) as Node;
  t.is(node.spec.bgp?.asNumber, 65546);
});

test('durations use Go syntax and come out in seconds', (t) => {
  const cases: [string, number | undefined][] = [
    ['120s', 120],
    ['2m', 120],
    ['1h30m', 5400],
    ['1.5s', 1.5],
    ['500ms', 0.5],
    ['0', 0],
    ['-3s', -3],
    ['90', undefined],
    ['', undefined],
    ['2 m', undefined],
    ['1d', undefined],
  ];
  for (const [input, expected] of cases) t.is(parseDuration(input), expected, input);
});

test('peerIP is ip, ipv4:port or [ipv6]:port', (t) => {
  t.deepEqual(parsePeerIp('10.0.0.1'), { address: '10.0.0.1', family: 4 });
  t.deepEqual(parsePeerIp('10.0.0.1:1790'), { address: '10.0.0.1', family: 4, port: 1790 });
  t.deepEqual(parsePeerIp('[2001:DB8::1]:179'), { address: '2001:db8::1', family: 6, port: 179 });
  t.deepEqual(parsePeerIp('2001:db8::1'), { address: '2001:db8::1', family: 6 });
  for (const bad of [
    '10.0.0.300',
    '10.0.0.1:0',
    '10.0.0.1:65536',
    '[10.0.0.1]:179',
    '[2001:db8::1]',
    'fe80::1%eth0',
    'x',
  ]) {
    t.is(parsePeerIp(bad), undefined, bad);
  }
});

test('YAML documents, JSON, and Lists all parse', (t) => {
  const yaml = `${peer('a', '  peerIP: 10.0.0.1\n  asNumber: 65001\n')}\n---\n${peer('b', '  peerIP: 10.0.0.2\n  asNumber: 65001\n')}`;
  t.deepEqual(
    parseResources(yaml).resources.map((r) => r.metadata.name),
    ['a', 'b'],
  );
  const json = JSON.stringify({
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeerList',
    items: [
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'BGPPeer',
        metadata: { name: 'c' },
        spec: { peerIP: '10.0.0.3', asNumber: '1.1' },
      },
    ],
  });
  const list = parseResources(json);
  t.deepEqual(list.errors, []);
  t.is((list.resources[0] as BGPPeer).spec.asNumber, 65537);
  const crd = parseOne(
    'apiVersion: crd.projectcalico.org/v1\nkind: BGPConfiguration\nmetadata: {name: default}',
  );
  t.is(crd.apiVersion, 'projectcalico.org/v3');
  t.deepEqual(crd.spec, {});
});

test('errors carry the source and the line of the field they name', (t) => {
  const text = `${peer('ok', '  peerIP: 10.0.0.1\n  asNumber: 65001\n')}\n---\n${peer('rack1-tor', '  peerIP: "10.0.0.300"\n  asNumber: 65001\n')}`;
  const { resources, errors } = parseResources(text, 'peers.yaml');
  t.is(resources.length, 1);
  t.is(errors.length, 1);
  t.is(errors[0].message, 'BGPPeer/rack1-tor: spec.peerIP: "10.0.0.300" is not an IP address or ip:port');
  t.is(errors[0].source, 'peers.yaml:15');
  t.is(formatValidationError(errors[0]), `peers.yaml:15: ${errors[0].message}`);
  t.deepEqual(
    { kind: errors[0].kind, name: errors[0].name, path: errors[0].path },
    { kind: 'BGPPeer', name: 'rack1-tor', path: 'spec.peerIP' },
  );
  const broken = parseResources('kind: [unclosed', 'bad.yaml');
  t.is(broken.errors.length, 1);
  t.regex(broken.errors[0].message, /^invalid YAML \(column \d+\): [^:]*[^:\s]$/);
  t.is(broken.errors[0].source, 'bad.yaml:1');
  const twice = parseResources(
    `${peer('a', '  peerIP: 10.0.0.1\n  asNumber: 1\n')}\n---\n${peer('a', '  peerIP: 10.0.0.2\n  asNumber: 1\n')}`,
    'f',
  );
  t.deepEqual(
    twice.errors.map((e) => e.message),
    ['BGPPeer/a: defined again (first at f:1)'],
  );
});

// Each invalid resource and every message it must produce.
const INVALID: readonly [string, string, readonly string[]][] = [
  [
    'unknown kind',
    'apiVersion: projectcalico.org/v3\nkind: BGPPeers\nmetadata: {name: a}',
    [
      'BGPPeers/a: kind: "BGPPeers" is not one of BGPConfiguration, BGPPeer, BGPFilter, Node, IPPool, IPAMConfiguration, BFDConfiguration',
    ],
  ],
  [
    'wrong apiVersion',
    'apiVersion: v1\nkind: BGPPeer\nmetadata: {name: a}\nspec: {peerIP: 10.0.0.1, asNumber: 1}',
    ['BGPPeer/a: apiVersion: "v1" is not one of projectcalico.org/v3, crd.projectcalico.org/v1'],
  ],
  [
    'unknown top-level field',
    'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: a}\nspecs: {}',
    [
      'BGPPeer/a: specs: unknown field',
      'BGPPeer/a: spec.peerIP: one of peerIP, peerSelector or localWorkloadSelector is required',
    ],
  ],
  [
    'missing name',
    'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {}\nspec: {peerIP: 10.0.0.1, asNumber: 1}',
    ['BGPPeer/<unnamed>: metadata.name: required'],
  ],
  [
    'bad name',
    peer('Rack_1', '  peerIP: 10.0.0.1\n  asNumber: 1\n'),
    [
      'BGPPeer/Rack_1: metadata.name: "Rack_1" is not a valid name (lower-case letters, digits, "-" and ".", starting and ending alphanumeric, at most 253)',
    ],
  ],
  [
    'typo in a field',
    peer('a', '  peerIp: 10.0.0.1\n  asNumber: 1\n'),
    ['BGPPeer/a: spec.peerIp: unknown field (did you mean peerIP?)'],
  ],
  [
    'label value not a string',
    'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n, labels: {rr: true}}',
    ['Node/n: metadata.labels.rr: expected a string, got true (quote it: "true")'],
  ],
  [
    'bad label key',
    'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n, labels: {"-x": "y"}}',
    [
      'Node/n: metadata.labels["-x"]: "-x" is not a valid label key ([prefix/]name, name at most 63 characters)',
    ],
  ],
  [
    'node and nodeSelector',
    peer('a', '  node: n1\n  nodeSelector: all()\n  peerIP: 10.0.0.1\n  asNumber: 1\n'),
    ['BGPPeer/a: spec.nodeSelector: cannot be set together with node'],
  ],
  [
    'peerIP and peerSelector',
    peer('a', '  peerIP: 10.0.0.1\n  peerSelector: all()\n'),
    [
      'BGPPeer/a: spec.peerSelector: cannot be set together with peerIP',
      'BGPPeer/a: spec.asNumber: required when peerIP is set',
    ],
  ],
  [
    'asNumber with peerSelector',
    peer('a', '  peerSelector: all()\n  asNumber: 64512\n'),
    ['BGPPeer/a: spec.asNumber: must be empty when peerSelector is set'],
  ],
  [
    'no remote side',
    peer('a', '  node: n1\n'),
    ['BGPPeer/a: spec.peerIP: one of peerIP, peerSelector or localWorkloadSelector is required'],
  ],
  [
    'peerIP without asNumber',
    peer('a', '  peerIP: 10.0.0.1\n'),
    ['BGPPeer/a: spec.asNumber: required when peerIP is set'],
  ],
  [
    'localWorkloadSelector without asNumber',
    peer('a', '  localWorkloadSelector: all()\n'),
    ['BGPPeer/a: spec.asNumber: required when localWorkloadSelector is set'],
  ],
  [
    'keepOriginalNextHop and nextHopMode',
    peer('a', '  peerIP: 10.0.0.1\n  asNumber: 1\n  keepOriginalNextHop: true\n  nextHopMode: Self\n'),
    ['BGPPeer/a: spec.nextHopMode: cannot be combined with keepOriginalNextHop: true'],
  ],
  [
    'reachableBy without peerIP',
    peer('a', '  peerSelector: all()\n  reachableBy: 10.0.0.254\n'),
    ['BGPPeer/a: spec.reachableBy: requires peerIP'],
  ],
  [
    'reachableBy of the other family',
    peer('a', '  peerIP: 10.0.0.1\n  asNumber: 1\n  reachableBy: "2001:db8::1"\n'),
    ['BGPPeer/a: spec.reachableBy: must be of the same address family as peerIP "10.0.0.1"'],
  ],
  [
    'bad enum, duration, AS, ttl',
    peer(
      'a',
      '  peerIP: 10.0.0.1:179\n  asNumber: 0\n  nextHopMode: self\n  maxRestartTime: 90\n  keepaliveTime: -1s\n  ttlSecurity: 256\n',
    ),
    [
      'BGPPeer/a: spec.asNumber: AS 0 is reserved (RFC 7607)',
      'BGPPeer/a: spec.nextHopMode: "self" is not one of Auto, Self, Keep',
      'BGPPeer/a: spec.maxRestartTime: expected a string, got 90',
      'BGPPeer/a: spec.keepaliveTime: "-1s" is negative',
      'BGPPeer/a: spec.ttlSecurity: 256 is not an integer from 0 to 255',
    ],
  ],
  [
    'bad selector',
    peer('a', '  nodeSelector: "has(a) &&"\n  peerIP: 10.0.0.1\n  asNumber: 1\n'),
    ['BGPPeer/a: spec.nodeSelector: selector "has(a) &&": column 10: expected an expression'],
  ],
  [
    'node-scoped BGPConfiguration with global-only fields',
    bgpConfig('node.n1', '  asNumber: 65000\n  nodeToNodeMeshEnabled: false\n  listenPort: 1790\n'),
    [
      'BGPConfiguration/node.n1: spec.nodeToNodeMeshEnabled: only allowed on the "default" BGPConfiguration',
      'BGPConfiguration/node.n1: spec.asNumber: only allowed on the "default" BGPConfiguration',
    ],
  ],
  [
    'BGPConfiguration with another name',
    bgpConfig('global', '  listenPort: 1790\n'),
    ['BGPConfiguration/global: metadata.name: "global" is neither "default" nor "node.<nodename>"'],
  ],
  [
    'mesh password without a mesh',
    bgpConfig('default', '  nodeToNodeMeshEnabled: false\n  nodeMeshMaxRestartTime: 30s\n'),
    [
      'BGPConfiguration/default: spec.nodeMeshMaxRestartTime: not allowed when nodeToNodeMeshEnabled is false',
    ],
  ],
  [
    'communities without advertisements',
    bgpConfig('default', '  communities: [{name: c1, value: "65001:100"}]\n'),
    ['BGPConfiguration/default: spec.communities: requires a non-empty prefixAdvertisements list'],
  ],
  [
    'advertisement naming no community',
    bgpConfig(
      'default',
      '  prefixAdvertisements: [{cidr: 10.0.0.0/8, communities: [nope, "65001:70000"]}]\n',
    ),
    [
      'BGPConfiguration/default: spec.prefixAdvertisements[0].communities[0]: "nope" is neither a community value nor a name in spec.communities',
      'BGPConfiguration/default: spec.prefixAdvertisements[0].communities[1]: "65001:70000" is neither a community value nor a name in spec.communities',
    ],
  ],
  [
    'bad listenPort and log severity',
    bgpConfig('default', '  listenPort: 0\n  logSeverityScreen: Verbose\n'),
    [
      'BGPConfiguration/default: spec.logSeverityScreen: "Verbose" is not one of Trace, Debug, Info, Warning, Error, Fatal',
      'BGPConfiguration/default: spec.listenPort: 0 is not an integer from 1 to 65535',
    ],
  ],
  [
    'pool not strictly masked',
    pool('  cidr: 10.244.1.0/16\n'),
    ['IPPool/p: spec.cidr: "10.244.1.0/16" has host bits set (not strictly masked)'],
  ],
  ['pool without cidr', pool('  blockSize: 26\n'), ['IPPool/p: spec.cidr: required']],
  [
    'pool smaller than a block',
    pool('  cidr: 10.244.0.0/28\n'),
    ['IPPool/p: spec.cidr: a /28 pool is smaller than its /26 blocks (disable it or grow it)'],
  ],
  [
    'v4 block size out of range',
    pool('  cidr: 10.244.0.0/16\n  blockSize: 19\n'),
    ['IPPool/p: spec.blockSize: 19 is out of range for an IPv4 pool (20–32)'],
  ],
  [
    'v6 block size out of range',
    pool('  cidr: "fd00::/48"\n  blockSize: 64\n'),
    ['IPPool/p: spec.blockSize: 64 is out of range for an IPv6 pool (116–128)'],
  ],
  [
    'IPIP on IPv6',
    pool('  cidr: "fd00::/48"\n  ipipMode: Always\n'),
    ['IPPool/p: spec.ipipMode: must be Never for an IPv6 pool'],
  ],
  [
    'IPIP and VXLAN',
    pool('  cidr: 10.244.0.0/16\n  ipipMode: Always\n  vxlanMode: CrossSubnet\n'),
    ['IPPool/p: spec.vxlanMode: IPIP and VXLAN cannot both be enabled on one pool'],
  ],
  [
    'link-local v4',
    pool('  cidr: 169.254.0.0/20\n'),
    ['IPPool/p: spec.cidr: overlaps the link-local range 169.254.0.0/16'],
  ],
  [
    'link-local v6',
    pool('  cidr: "fe80::/64"\n'),
    ['IPPool/p: spec.cidr: overlaps the link-local range fe80::/10'],
  ],
  [
    'global() in nodeSelector',
    pool('  cidr: 10.244.0.0/16\n  nodeSelector: global()\n'),
    ['IPPool/p: spec.nodeSelector: global() is not allowed in an IPPool'],
  ],
  [
    'LoadBalancer rules',
    pool(
      '  cidr: 10.96.0.0/16\n  allowedUses: [LoadBalancer, Workload]\n  vxlanMode: Always\n  disableBGPExport: true\n  nodeSelector: has(x)\n',
    ),
    [
      'IPPool/p: spec.allowedUses: LoadBalancer cannot be combined with other uses',
      'IPPool/p: spec.vxlanMode: must be Never for a LoadBalancer pool',
      'IPPool/p: spec.disableBGPExport: must be false for a LoadBalancer pool',
      'IPPool/p: spec.nodeSelector: must be all() for a LoadBalancer pool',
    ],
  ],
  [
    'namespaceSelector on a tunnel pool',
    pool('  cidr: 10.244.0.0/16\n  namespaceSelector: all()\n'),
    ['IPPool/p: spec.namespaceSelector: not allowed on a pool used for Tunnel addresses'],
  ],
  [
    'IPAM: maxBlocksPerHost without strictAffinity',
    ipam('default', '  maxBlocksPerHost: 10\n'),
    ['IPAMConfiguration/default: spec.maxBlocksPerHost: a non-zero value requires strictAffinity: true'],
  ],
  [
    'IPAM: no allocation at all',
    ipam('default', '  autoAllocateBlocks: false\n'),
    ['IPAMConfiguration/default: spec.autoAllocateBlocks: cannot be false unless strictAffinity is true'],
  ],
  [
    'IPAM: not the singleton',
    ipam('other', '  strictAffinity: true\n'),
    ['IPAMConfiguration/other: metadata.name: "other" is not "default" (the only IPAMConfiguration)'],
  ],
  [
    'IPAM: ranges',
    ipam('default', '  strictAffinity: true\n  maxBlocksPerHost: 1000001\n  ipCooldownSeconds: 1201\n'),
    [
      'IPAMConfiguration/default: spec.maxBlocksPerHost: 1000001 is not an integer from 0 to 1000000',
      'IPAMConfiguration/default: spec.ipCooldownSeconds: 1201 is not an integer from 0 to 1200',
    ],
  ],
  [
    'empty node BGP spec',
    'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n}\nspec: {bgp: {}}',
    ['Node/n: spec.bgp: must set ipv4Address or ipv6Address'],
  ],
  [
    'node addresses of the wrong family',
    'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n}\nspec: {bgp: {ipv4Address: "fd00::1/64", routeReflectorClusterID: "1.2.3"}}',
    [
      'Node/n: spec.bgp.ipv4Address: "fd00::1/64" is not an IPv4 address or CIDR',
      'Node/n: spec.bgp.routeReflectorClusterID: "1.2.3" is not an IPv4 address',
    ],
  ],
  [
    'BGPFilter rules',
    'apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: f}\nspec:\n  importV4:\n    - {cidr: 10.0.0.0/8, action: Reject, source: RemotePeers, operations: [{setPriority: {value: 5}}]}\n  exportV6:\n    - {cidr: 10.0.0.0/8, matchOperator: In, action: Accept}\n    - {action: Accept, prefixLength: {min: 64}, operations: [{addCommunity: {value: "1:2"}, setPriority: {value: 1}}]}\n',
    [
      'BGPFilter/f: spec.exportV6[0].cidr: "10.0.0.0/8" is not an IPv6 CIDR',
      'BGPFilter/f: spec.exportV6[1].operations[0]: exactly one of addCommunity, prependASPath or setPriority must be set',
      'BGPFilter/f: spec.importV4[0].matchOperator: cidr and matchOperator must be set together',
      'BGPFilter/f: spec.importV4[0].operations: only allowed with action Accept',
      'BGPFilter/f: spec.importV4[0].source: not applicable to import rules',
    ],
  ],
];

test('invalid resources are rejected whole, every reason named with its field path', (t) => {
  for (const [what, yaml, expected] of INVALID) {
    const { resources, errors } = parseResources(yaml);
    t.is(resources.length, 0, what);
    t.deepEqual(errors.map((e) => e.message).sort(), [...expected].sort(), what);
  }
});

test('validateResource and decodeResource take plain values from the datastore', (t) => {
  const value = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPPeer',
    metadata: { name: 'tor' },
    spec: { peerIP: '10.0.0.1', asNumber: '65001' },
  };
  t.deepEqual(validateResource(value), []);
  const decoded = decodeResource(value);
  t.is((decoded.resource as BGPPeer).spec.asNumber, 65001);
  t.deepEqual(
    validateResource({ ...value, spec: { peerIP: '10.0.0.1' } }).map((e) => e.message),
    ['BGPPeer/tor: spec.asNumber: required when peerIP is set'],
  );
  t.deepEqual(
    validateResource('x').map((e) => e.message),
    ['resource/<unnamed>: expected a resource object, got "x"'],
  );
});

test('defaults live in one table and the accessors read through it', (t) => {
  t.is(globalAsNumber([]), 64512);
  t.true(nodeToNodeMeshEnabled([]));
  const off = parseOne(
    bgpConfig('default', '  nodeToNodeMeshEnabled: false\n  asNumber: 65000\n'),
  ) as BGPConfiguration;
  t.false(nodeToNodeMeshEnabled([off]));
  t.is(globalAsNumber([off]), 65000);
  t.is(ipPoolBlockSize({ cidr: '10.0.0.0/16' }), 26);
  t.is(ipPoolBlockSize({ cidr: 'fd00::/48' }), 122);
  t.is(ipamMaxBlocksPerHost({ maxBlocksPerHost: 0 }), 20);
  t.is(ipamMaxBlocksPerHost(undefined), DEFAULTS.IPAMConfiguration.maxBlocksPerHost);
  const applied = defaultsApplied(parseOne(pool('  cidr: "fd00::/48"\n')) as IPPool);
  t.deepEqual(applied.spec, {
    cidr: 'fd00::/48',
    blockSize: 122,
    ipipMode: 'Never',
    vxlanMode: 'Never',
    natOutgoing: false,
    disabled: false,
    disableBGPExport: false,
    nodeSelector: 'all()',
    allowedUses: ['Workload', 'Tunnel'],
    assignmentMode: 'Automatic',
  });
  const config = defaultsApplied(off);
  t.is(config.spec.logSeverityScreen, 'Info');
  t.false(config.spec.nodeToNodeMeshEnabled);
  const nodeScoped = parseOne(bgpConfig('node.n1', '  listenPort: 1790\n'));
  t.is(defaultsApplied(nodeScoped), nodeScoped);
});

test('resources format as YAML and JSON that parse back to the same resource', (t) => {
  const original = parseOne(peer('rack1-tor', '  peerIP: 10.0.0.1\n  asNumber: "1.10"\n  filters: [a, b]\n'));
  for (const format of ['yaml', 'json'] as const) {
    t.deepEqual(parseOne(formatResource(original, format)), original, format);
  }
  t.is(
    formatResource(original, 'yaml'),
    'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: rack1-tor\nspec:\n  peerIP: 10.0.0.1\n  asNumber: 65546\n  filters:\n    - a\n    - b\n',
  );
});

test('get tables use calicoctl columns', (t) => {
  const { resources } = parseResources(
    [
      peer('rack1-tor', '  peerIP: 10.0.0.1\n  asNumber: 65001\n'),
      peer('to-rrs', '  nodeSelector: all()\n  peerSelector: has(rr)\n'),
      pool('  cidr: 10.244.0.0/16\n  natOutgoing: true\n'),
      'apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n1}\nspec: {bgp: {ipv4Address: 10.0.0.2/24}}',
      bgpConfig('default', '  asNumber: 65000\n'),
    ].join('\n---\n'),
  );
  const peers = resources.filter((r): r is BGPPeer => r.kind === 'BGPPeer');
  t.is(
    renderTable(resourceTable('BGPPeer', peers)),
    'NAME        PEERIP     NODE       ASN\nrack1-tor   10.0.0.1   (global)   65001\nto-rrs                 all()      0\n',
  );
  const pools = resources.filter((r): r is IPPool => r.kind === 'IPPool');
  t.deepEqual(resourceTable('IPPool', pools), {
    header: ['NAME', 'CIDR', 'SELECTOR'],
    rows: [['p', '10.244.0.0/16', 'all()']],
  });
  t.deepEqual(resourceTable('IPPool', pools, true).rows, [
    ['p', '10.244.0.0/16', 'true', 'Never', 'Never', 'false', 'false', 'all()', 'Automatic'],
  ]);
  const configs = resources.filter((r): r is BGPConfiguration => r.kind === 'BGPConfiguration');
  const nodes = resources.filter((r): r is Node => r.kind === 'Node');
  t.deepEqual(resourceTable('Node', nodes, false, { configs }).rows, [['n1', '(65000)', '10.0.0.2/24', '']]);
  t.deepEqual(resourceTable('BGPConfiguration', configs).rows, [['default', '', '-', '65000']]);
});

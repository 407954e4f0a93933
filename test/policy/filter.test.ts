// BGPFilter conformance (calico-routing.md §4): every rule form — each match field, each operator,
// prefixLength edges, combinations, each operation, evaluation order within a filter and across two —
// as routes in → routes out, on import and on export, IPv4 and IPv6. The export cases run on a
// dedicated route reflector's policy, whose fall-through accepts, so a table row shows exactly what
// the rules keep; node mode's export default has its own table (export-default.test.ts).

import test from 'ava';
import type { BGPFilter, BGPFilterRule } from '../../src/resources/types.ts';
import { localPrefOf } from '../../src/policy/priority.ts';
import {
  asPath,
  EBGP_AS,
  exportThrough,
  filter,
  importThrough,
  LOCAL_AS,
  policyOf,
  route,
  rulesFilter,
  target,
} from './support.ts';
import type { RouteIn } from './support.ts';

const V4: RouteIn[] = [
  route('10.0.0.0/8'),
  route('10.1.0.0/16'),
  route('10.1.2.0/24'),
  route('10.1.2.128/25'),
  route('10.1.2.3/32'),
  route('172.16.0.0/12'),
  route('192.168.0.0/16'),
];
const V6: RouteIn[] = [
  route('2001:db8::/32'),
  route('2001:db8:1::/48'),
  route('2001:db8:1:2::/64'),
  route('2001:db8:1:2::1/128'),
  route('fd00::/8'),
];
/** An RFC 1997 community as the codec holds it: an unsigned 32-bit number. */
const std = (as: number, value: number): number => ((as << 16) | value) >>> 0;
const ALL4 = V4.map((r) => r.prefix);
const ALL6 = V6.map((r) => r.prefix);

interface Row {
  readonly name: string;
  readonly v6?: boolean;
  readonly rules: BGPFilterRule[];
  /** The prefixes the rules reject (everything else is kept). */
  readonly rejected: string[];
}

const without = (all: string[], ...kept: string[]) => all.filter((p) => !kept.includes(p));

const ROWS: Row[] = [
  {
    name: 'In',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'In', action: 'Reject' }],
    rejected: ['10.1.0.0/16', '10.1.2.0/24', '10.1.2.128/25', '10.1.2.3/32'],
  },
  {
    name: 'NotIn',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'NotIn', action: 'Reject' }],
    rejected: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
  },
  {
    name: 'Equal',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'Equal', action: 'Reject' }],
    rejected: ['10.1.0.0/16'],
  },
  {
    name: 'NotEqual',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'NotEqual', action: 'Reject' }],
    rejected: without(ALL4, '10.1.0.0/16'),
  },
  {
    name: 'In with prefixLength 24–25',
    rules: [
      { cidr: '10.1.0.0/16', matchOperator: 'In', prefixLength: { min: 24, max: 25 }, action: 'Reject' },
    ],
    rejected: ['10.1.2.0/24', '10.1.2.128/25'],
  },
  {
    name: 'prefixLength min below the CIDR length is the CIDR length',
    rules: [
      { cidr: '10.1.0.0/16', matchOperator: 'In', prefixLength: { min: 8, max: 16 }, action: 'Reject' },
    ],
    rejected: ['10.1.0.0/16'],
  },
  {
    name: 'prefixLength without max reaches /32',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'In', prefixLength: { min: 25 }, action: 'Reject' }],
    rejected: ['10.1.2.128/25', '10.1.2.3/32'],
  },
  {
    name: 'prefixLength max only, from the CIDR length',
    rules: [{ cidr: '10.0.0.0/8', matchOperator: 'In', prefixLength: { max: 16 }, action: 'Reject' }],
    rejected: ['10.0.0.0/8', '10.1.0.0/16'],
  },
  {
    name: 'prefixLength exactly /32',
    rules: [
      { cidr: '10.0.0.0/8', matchOperator: 'In', prefixLength: { min: 32, max: 32 }, action: 'Reject' },
    ],
    rejected: ['10.1.2.3/32'],
  },
  {
    name: 'NotIn with prefixLength',
    rules: [
      { cidr: '10.1.0.0/16', matchOperator: 'NotIn', prefixLength: { min: 24, max: 24 }, action: 'Reject' },
    ],
    rejected: without(ALL4, '10.1.2.0/24'),
  },
  {
    name: 'Equal with prefixLength reads as set membership',
    rules: [
      { cidr: '10.1.0.0/16', matchOperator: 'Equal', prefixLength: { min: 24, max: 24 }, action: 'Reject' },
    ],
    rejected: ['10.1.2.0/24'],
  },
  { name: 'a bare Reject matches everything', rules: [{ action: 'Reject' }], rejected: ALL4 },
  {
    name: 'the first matching rule decides: Accept before a bare Reject',
    rules: [{ cidr: '10.1.0.0/16', matchOperator: 'In', action: 'Accept' }, { action: 'Reject' }],
    rejected: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
  },
  {
    name: 'the first matching rule decides: Reject before an Accept',
    rules: [
      { cidr: '10.1.0.0/16', matchOperator: 'In', action: 'Reject' },
      { cidr: '10.1.2.0/24', matchOperator: 'Equal', action: 'Accept' },
    ],
    rejected: ['10.1.0.0/16', '10.1.2.0/24', '10.1.2.128/25', '10.1.2.3/32'],
  },
  {
    name: 'IPv6 In',
    v6: true,
    rules: [{ cidr: '2001:db8:1::/48', matchOperator: 'In', action: 'Reject' }],
    rejected: ['2001:db8:1::/48', '2001:db8:1:2::/64', '2001:db8:1:2::1/128'],
  },
  {
    name: 'IPv6 NotIn',
    v6: true,
    rules: [{ cidr: '2001:db8::/32', matchOperator: 'NotIn', action: 'Reject' }],
    rejected: ['fd00::/8'],
  },
  {
    name: 'IPv6 Equal',
    v6: true,
    rules: [{ cidr: '2001:db8:1:2::/64', matchOperator: 'Equal', action: 'Reject' }],
    rejected: ['2001:db8:1:2::/64'],
  },
  {
    name: 'IPv6 NotEqual',
    v6: true,
    rules: [{ cidr: '2001:db8::/32', matchOperator: 'NotEqual', action: 'Reject' }],
    rejected: without(ALL6, '2001:db8::/32'),
  },
  {
    name: 'IPv6 prefixLength 48–64',
    v6: true,
    rules: [
      { cidr: '2001:db8::/32', matchOperator: 'In', prefixLength: { min: 48, max: 64 }, action: 'Reject' },
    ],
    rejected: ['2001:db8:1::/48', '2001:db8:1:2::/64'],
  },
  {
    name: 'IPv6 prefixLength without max reaches /128',
    v6: true,
    rules: [{ cidr: '2001:db8::/32', matchOperator: 'In', prefixLength: { min: 65 }, action: 'Reject' }],
    rejected: ['2001:db8:1:2::1/128'],
  },
];

for (const direction of ['import', 'export'] as const) {
  for (const row of ROWS) {
    test(`${direction} ${row.name}`, (t) => {
      const routes = row.v6 ? V6 : V4;
      const policy = policyOf({ filters: [rulesFilter('f', direction, row.v6 ?? false, row.rules)] });
      const out =
        direction === 'import'
          ? importThrough(policy, ['f'], routes)
          : exportThrough(policy, routes, target('ebgp', ['f']));
      t.deepEqual(
        [...out.keys()].sort(),
        routes
          .map((r) => r.prefix)
          .filter((p) => !row.rejected.includes(p))
          .sort(),
      );
    });
  }
}

test('rules of one family leave the other family alone', (t) => {
  const policy = policyOf({ filters: [rulesFilter('f', 'export', false, [{ action: 'Reject' }])] });
  t.is(exportThrough(policy, V6, target('ebgp', ['f'])).size, V6.length);
  t.is(exportThrough(policy, V4, target('ebgp', ['f'])).size, 0);
});

/** Two filters on one peer: the first rule that accepts or rejects ends the whole peer filter. */
test('evaluation order across two filters follows the BGPPeer list', (t) => {
  const keep24 = rulesFilter('keep-24', 'export', false, [
    { cidr: '10.1.2.0/24', matchOperator: 'Equal', action: 'Accept' },
  ]);
  const drop10 = rulesFilter('drop-10-1', 'export', false, [
    { cidr: '10.1.0.0/16', matchOperator: 'In', action: 'Reject' },
  ]);
  const policy = policyOf({ filters: [keep24, drop10] });
  const kept = (filters: string[]) =>
    [...exportThrough(policy, V4, target('ebgp', filters)).keys()].filter((p) => p.startsWith('10.1.'));
  t.deepEqual(kept(['keep-24', 'drop-10-1']), ['10.1.2.0/24']);
  t.deepEqual(kept(['drop-10-1', 'keep-24']), []);
  // A name with no BGPFilter is skipped, as confd skips it.
  t.deepEqual(kept(['absent', 'keep-24', 'drop-10-1']), ['10.1.2.0/24']);
  t.deepEqual(policy.missingFilters(['absent', 'keep-24']), ['absent']);
});

test('peerType: an iBGP rule acts on iBGP peers only, an eBGP rule on eBGP peers only', (t) => {
  const policy = policyOf({
    filters: [
      rulesFilter('ibgp-only', 'export', false, [{ peerType: 'iBGP', action: 'Reject' }]),
      rulesFilter('ebgp-only', 'import', false, [{ peerType: 'eBGP', action: 'Reject' }]),
    ],
  });
  t.is(exportThrough(policy, V4, target('ebgp', ['ibgp-only'])).size, V4.length);
  t.is(exportThrough(policy, V4, target('ibgp', ['ibgp-only'])).size, 0);
  t.is(importThrough(policy, ['ebgp-only'], V4).size, 0);
  t.is(
    importThrough(
      policy,
      ['ebgp-only'],
      V4.map((r) => ({ ...r, source: 'ibgp' as const })),
    ).size,
    V4.length,
  );
});

const TAGGED: RouteIn[] = [
  route('10.1.0.0/16', 'ebgp', { communities: [std(65000, 100)] }),
  route('10.2.0.0/16', 'ebgp', {
    largeCommunities: [{ globalAdministrator: 65000, localData1: 1, localData2: 2 }],
  }),
  route('10.3.0.0/16', 'ebgp', { asPath: asPath(EBGP_AS, 65002, 65003) }),
  route('10.4.0.0/16', 'ebgp', { asPath: asPath(EBGP_AS, 65003) }),
  route('10.5.0.0/16', 'ibgp', { localPref: localPrefOf(512) }),
  route('10.6.0.0/16', 'local'),
];

const MATCH_ROWS: {
  name: string;
  rule: BGPFilterRule;
  rejected: string[];
  directions?: ('import' | 'export')[];
}[] = [
  {
    name: 'standard community',
    rule: { communities: { values: ['65000:100'] }, action: 'Reject' },
    rejected: ['10.1.0.0/16'],
  },
  {
    name: 'large community',
    rule: { communities: { values: ['65000:1:2'] }, action: 'Reject' },
    rejected: ['10.2.0.0/16'],
  },
  {
    name: 'asPathPrefix of two ASNs',
    rule: { asPathPrefix: [EBGP_AS, 65002], action: 'Reject' },
    rejected: ['10.3.0.0/16'],
  },
  {
    name: 'asPathPrefix of one ASN',
    rule: { asPathPrefix: [EBGP_AS], action: 'Reject' },
    rejected: ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16'],
  },
  {
    name: 'priority (LOCAL_PREF = 2147483647 − priority)',
    rule: { priority: 512, action: 'Reject' },
    rejected: ['10.5.0.0/16'],
  },
  {
    name: 'source RemotePeers: every route learned over BGP',
    rule: { source: 'RemotePeers', action: 'Reject' },
    rejected: ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16', '10.5.0.0/16'],
    directions: ['export'],
  },
  {
    name: 'interface pattern (the device to the next hop)',
    rule: { interface: 'eth*', action: 'Reject' },
    rejected: ['10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16', '10.5.0.0/16'],
    directions: ['export'],
  },
  {
    name: 'interface pattern that no device matches',
    rule: { interface: 'cali*', action: 'Reject' },
    rejected: [],
    directions: ['export'],
  },
  {
    name: 'a combination: CIDR and community and peerType, all must hold',
    rule: {
      cidr: '10.0.0.0/8',
      matchOperator: 'In',
      communities: { values: ['65000:100'] },
      peerType: 'eBGP',
      action: 'Reject',
    },
    rejected: ['10.1.0.0/16'],
  },
  {
    name: 'a combination that one field fails',
    rule: {
      cidr: '10.2.0.0/16',
      matchOperator: 'Equal',
      communities: { values: ['65000:100'] },
      action: 'Reject',
    },
    rejected: [],
  },
];

for (const row of MATCH_ROWS) {
  for (const direction of row.directions ?? (['import', 'export'] as const)) {
    test(`${direction} matches ${row.name}`, (t) => {
      const policy = policyOf({ filters: [rulesFilter('f', direction, false, [row.rule])] });
      policy.interfaceOf = () => 'eth1';
      const routes = direction === 'import' ? TAGGED.filter((r) => r.source !== 'local') : TAGGED;
      const out =
        direction === 'import'
          ? importThrough(policy, ['f'], routes)
          : exportThrough(policy, routes, target('ebgp', ['f']));
      t.deepEqual(
        [...out.keys()].sort(),
        routes
          .map((r) => r.prefix)
          .filter((p) => !row.rejected.includes(p))
          .sort(),
      );
    });
  }
}

function operations(direction: 'import' | 'export'): BGPFilter {
  return rulesFilter('ops', direction, false, [
    {
      cidr: '10.1.0.0/16',
      matchOperator: 'Equal',
      action: 'Accept',
      operations: [
        { addCommunity: { value: '65000:7' } },
        { addCommunity: { value: '65000:8:9' } },
        { prependASPath: { prefix: [65100, 65101] } },
        { setPriority: { value: 100 } },
      ],
    },
  ]);
}

test('operations on export: communities added, AS_PATH prepended in the listed order, priority as LOCAL_PREF', (t) => {
  const policy = policyOf({ filters: [operations('export')] });
  // Learned from eBGP, so the iBGP split horizon lets them reach the iBGP target too.
  const routes = [
    route('10.1.0.0/16', 'ebgp', { communities: [std(65000, 7)], asPath: asPath(65200) }),
    route('10.2.0.0/16', 'ebgp'),
  ];
  const ibgp = exportThrough(policy, routes, target('ibgp', ['ops'])).get('10.1.0.0/16')!;
  t.deepEqual(ibgp.communities, [std(65000, 7)]); // already there: not added twice
  t.deepEqual(ibgp.largeCommunities, [{ globalAdministrator: 65000, localData1: 8, localData2: 9 }]);
  t.deepEqual(ibgp.asPath, asPath(65100, 65101, 65200));
  t.is(ibgp.localPref, localPrefOf(100));
  // To eBGP our AS goes in front of the prepended ones, and LOCAL_PREF is not sent (RFC 4271 §5.1).
  const ebgp = exportThrough(policy, routes, target('ebgp', ['ops'])).get('10.1.0.0/16')!;
  t.deepEqual(ebgp.asPath, asPath(LOCAL_AS, 65100, 65101, 65200));
  t.is(ebgp.localPref, undefined);
  // The route no rule matched goes out unchanged.
  t.is(exportThrough(policy, routes, target('ibgp', ['ops'])).get('10.2.0.0/16')!.communities, undefined);
});

test('operations on import change the attributes the RIB keeps', (t) => {
  const policy = policyOf({ filters: [operations('import')] });
  const kept = importThrough(policy, ['ops'], [route('10.1.0.0/16'), route('10.2.0.0/16')]);
  const changed = kept.get('10.1.0.0/16')!;
  t.deepEqual(changed.communities, [std(65000, 7)]);
  t.deepEqual(changed.asPath, asPath(65100, 65101, EBGP_AS));
  t.is(changed.localPref, localPrefOf(100));
  t.is(kept.get('10.2.0.0/16')!.localPref, undefined);
});

test('IPv6 operations', (t) => {
  const f = filter('ops6', {
    exportV6: [
      {
        cidr: '2001:db8::/32',
        matchOperator: 'In',
        action: 'Accept',
        operations: [{ addCommunity: { value: '65000:6' } }],
      },
    ],
  });
  const out = exportThrough(policyOf({ filters: [f] }), V6, target('ebgp', ['ops6']));
  t.deepEqual(out.get('2001:db8:1::/48')!.communities, [std(65000, 6)]);
  t.is(out.get('fd00::/8')!.communities, undefined);
});

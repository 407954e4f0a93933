// Every field the decoder accepts acts, is refused, or is ignored with a warning — and exactly one of
// the three (src/resources/support.ts). A field added to a schema without a decision fails here. The
// README's "Calico fields" table is generated from the same tables; when it differs:
//
//   UPDATE_README=1 npx ava test/resources/field-audit.test.ts    # rewrite the README section
//
// Then `brindlectl apply` as an operator runs it: a refused field fails the apply naming its file line,
// an ignored one is applied with a warning; and the daemon's resource cache logs both.

import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

import { openLmdbStore } from '../../src/datastore/lmdb-store.ts';
import {
  acceptedFields,
  fieldSupport,
  IGNORED,
  parseResources,
  REFUSED,
  RESOURCE_KINDS,
  SUPPORTED,
  tableEntries,
} from '../../src/resources/index.ts';
import type { Resource, ResourceKind } from '../../src/resources/index.ts';
import { ResourceCache, ResourceStore } from '../../src/resources/store.ts';
import type { Table } from '../../src/resources/support.ts';
import { brindlectlResult as brindlectl } from '../helpers/brindle.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = join(ROOT, 'README.md');

type Verdict = 'supported' | 'refused' | 'ignored';

function entries(kind: ResourceKind): { path: string; verdict: Verdict }[] {
  return [
    ...tableEntries(SUPPORTED, kind).map(([path]) => ({ path, verdict: 'supported' as const })),
    ...tableEntries(REFUSED, kind).map(([path]) => ({ path, verdict: 'refused' as const })),
    ...tableEntries(IGNORED, kind).map(([path]) => ({ path, verdict: 'ignored' as const })),
  ];
}

/** An entry covers its own field and, when the field holds an object or a list, everything inside. */
function covers(entry: string, field: string): boolean {
  return field === entry || field.startsWith(`${entry}.`) || field.startsWith(`${entry}[]`);
}

for (const kind of RESOURCE_KINDS) {
  test(`${kind}: every accepted field is in exactly one of supported, refused, ignored`, (t) => {
    const fields = acceptedFields(kind);
    const listed = entries(kind);
    const undecided = fields.filter((f) => !listed.some((e) => covers(e.path, f)));
    t.deepEqual(undecided, [], 'fields with no decision: add each to SUPPORTED, REFUSED or IGNORED');
    const twice = fields.filter((f) => listed.filter((e) => covers(e.path, f)).length > 1);
    t.deepEqual(twice, [], 'fields decided twice');
    const stale = listed.filter((e) => !fields.some((f) => covers(e.path, f))).map((e) => e.path);
    t.deepEqual(stale, [], 'entries naming no accepted field');
  });
}

test('every kind has the same metadata entries, all supported', (t) => {
  for (const kind of RESOURCE_KINDS) {
    const metadata = entries(kind).filter((e) => e.path.startsWith('metadata.'));
    t.deepEqual(metadata, metadataRows(), kind);
  }
});

// --- What each refused and ignored field does to a resource -----------------------------------------

const doc = (kind: string, name: string, spec: string, extra = '') =>
  `---\napiVersion: projectcalico.org/v3\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n${extra}`;

/** One value per refused field that asks for something Brindle does not do. */
const REFUSED_VALUES = [
  doc(
    'BGPConfiguration',
    'default',
    "{logSeverityScreen: Debug, serviceLoadBalancerAggregation: Disabled, localWorkloadPeeringIPV4: 169.254.0.1, localWorkloadPeeringIPV6: 'fe80::1', programClusterRoutes: EnabledNoEncapOnly}",
  ),
  doc(
    'BGPPeer',
    'tor',
    '{peerIP: 10.0.0.1, asNumber: 65001, numAllowedLocalASNumbers: 2, reachableBy: 10.0.0.254}',
  ),
  doc('BGPPeer', 'vms', '{localWorkloadSelector: \'kubevirt.io == "virt-launcher"\', asNumber: 65010}'),
  doc(
    'IPPool',
    'vxlan',
    '{cidr: 10.1.0.0/16, vxlanMode: CrossSubnet, namespaceSelector: "team == \'a\'", allowedUses: [Workload]}',
  ),
  doc('IPAMConfiguration', 'default', '{kubeVirtVMAddressPersistence: Enabled, ipCooldownSeconds: 30}'),
].join('');

/** The values of refused fields that ask for what Brindle does anyway. */
const ALLOWED_VALUES = [
  doc(
    'BGPConfiguration',
    'default',
    '{logSeverityScreen: info, serviceLoadBalancerAggregation: Enabled, programClusterRoutes: Enabled}',
  ),
  doc(
    'BGPPeer',
    'tor',
    "{peerIP: 10.0.0.1, asNumber: 65001, numAllowedLocalASNumbers: 0, localWorkloadSelector: ''}",
  ),
  doc(
    'IPPool',
    'plain',
    "{cidr: 10.1.0.0/16, vxlanMode: Never, namespaceSelector: ' all() ', allowedUses: [Workload]}",
  ),
  doc('IPAMConfiguration', 'default', '{kubeVirtVMAddressPersistence: Disabled, ipCooldownSeconds: 0}'),
].join('');

const IGNORED_VALUES = [
  doc(
    'Node',
    'n1',
    `
  bgp: {ipv4Address: 10.0.0.2/24, ipv4IPIPTunnelAddr: 10.244.0.1}
  ipv4VXLANTunnelAddr: 10.244.0.2
  vxlanTunnelMACAddr: 66:f8:a1:00:00:01
  ipv6VXLANTunnelAddr: 'fd00::2'
  vxlanTunnelMACAddrV6: 66:f8:a1:00:00:02
  orchRefs: [{nodeName: n1, orchestrator: k8s}]
  wireguard: {interfaceIPv4Address: 10.244.0.3}
  addresses: [{address: 10.0.0.2, type: InternalIP}]
  interfaces: [{name: eth0, addresses: [10.0.0.2]}]`,
    'status: {wireguardPublicKey: a, wireguardPublicKeyV6: b, podCIDRs: [10.244.0.0/24]}\n',
  ),
  doc(
    'IPPool',
    'nat',
    '{cidr: 10.2.0.0/16, natOutgoing: true}',
    'status: {conditions: [{type: Allocatable, status: "True"}]}\n',
  ),
].join('');

function parsed(text: string): Resource[] {
  const { resources, errors } = parseResources(text);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return resources;
}

/** `Kind spec.path` for every finding of one sort. */
function found(resources: readonly Resource[], which: 'refused' | 'ignored'): string[] {
  return resources.flatMap((r) => fieldSupport(r)[which].map((f) => `${r.kind} ${f.path}`));
}

const listedPaths = (table: Table<unknown>) =>
  RESOURCE_KINDS.flatMap((kind) => tableEntries(table, kind).map(([path]) => `${kind} ${path}`));

test('each refused field is refused when it asks for what Brindle does not do', (t) => {
  const refused = found(parsed(REFUSED_VALUES), 'refused');
  t.deepEqual([...refused].sort(), listedPaths(REFUSED).sort());
  t.deepEqual(found(parsed(REFUSED_VALUES), 'ignored'), []);
  const peer = parsed(REFUSED_VALUES).find((r) => r.metadata.name === 'tor')!;
  t.deepEqual(fieldSupport(peer).refused, [
    {
      path: 'spec.numAllowedLocalASNumbers',
      reason:
        '2 is not supported by Brindle (only 0): BIRD\'s "allow local as" is not implemented: an AS_PATH holding the local AS is always a loop',
    },
    {
      path: 'spec.reachableBy',
      reason:
        'not supported by Brindle: the static host route to the peer through this gateway is not implemented',
    },
  ]);
});

test('a refused field set to what Brindle does anyway is accepted without a word', (t) => {
  const resources = parsed(ALLOWED_VALUES);
  t.deepEqual(found(resources, 'refused'), []);
  t.deepEqual(found(resources, 'ignored'), []);
});

test('each ignored field is accepted with a warning that names it', (t) => {
  const resources = parsed(IGNORED_VALUES);
  t.deepEqual(found(resources, 'refused'), []);
  t.deepEqual([...found(resources, 'ignored')].sort(), listedPaths(IGNORED).sort());
  t.regex(
    fieldSupport(resources[1]).ignored[0].reason,
    /^accepted and ignored: masquerading is done by Felix/,
  );
});

test('the config/examples resources use no refused or ignored field', async (t) => {
  for (const file of ['bgp-configuration', 'ip-pool', 'ipam-configuration', 'route-reflectors', 'tor-peer']) {
    const resources = parsed(await readFile(join(ROOT, 'config/examples', `${file}.yaml`), 'utf8'));
    t.deepEqual([...found(resources, 'refused'), ...found(resources, 'ignored')], [], file);
  }
});

// --- The README table ----------------------------------------------------------------------------------

const BEGIN =
  '<!-- calico-fields:begin (generated from src/resources/support.ts; see test/resources/field-audit.test.ts) -->';
const END = '<!-- calico-fields:end -->';

function metadataRows(): { path: string; verdict: Verdict }[] {
  return entries('BGPConfiguration').filter((e) => e.path.startsWith('metadata.'));
}

/** Entries in schema order: by the first accepted field each covers. */
function ordered(kind: ResourceKind): { path: string; verdict: Verdict }[] {
  const fields = acceptedFields(kind);
  const first = (path: string) => fields.findIndex((f) => covers(path, f));
  return entries(kind)
    .filter((e) => !e.path.startsWith('metadata.'))
    .sort((a, b) => first(a.path) - first(b.path));
}

function row(kind: ResourceKind | 'every kind', path: string, verdict: Verdict, table: ResourceKind): string {
  const cells: Record<Verdict, () => [string, string]> = {
    supported: () => {
      const s = SUPPORTED[table]![path];
      return [s.policy ? 'supported (routing policy)' : 'supported', s.acts];
    },
    refused: () => {
      const r = REFUSED[table]![path];
      const allows = r.allows?.map((v) => `\`${JSON.stringify(v)}\``).join(' or ');
      return [allows ? `refused, except ${allows}` : 'refused', r.why];
    },
    ignored: () => ['ignored with a warning', IGNORED[table]![path]],
  };
  const [state, text] = cells[verdict]();
  return `| ${kind} | \`${path}\` | ${state} | ${text.replaceAll('|', '\\|')} |`;
}

function readmeTable(): string {
  const rows = [
    ...metadataRows().map((e) => row('every kind', e.path, e.verdict, 'BGPConfiguration')),
    ...RESOURCE_KINDS.flatMap((kind) => ordered(kind).map((e) => row(kind, e.path, e.verdict, kind))),
  ];
  return [
    BEGIN,
    '| kind | field | Brindle | what it does, or why not |',
    '|---|---|---|---|',
    ...rows,
    END,
  ].join('\n');
}

test('the README table of Calico fields is generated from the same tables', async (t) => {
  const text = await readFile(README, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  t.true(start >= 0 && end > start, 'README.md has the calico-fields markers');
  const current = text.slice(start, end + END.length);
  const wanted = readmeTable();
  if (current !== wanted && process.env.UPDATE_README === '1') {
    await writeFile(README, text.slice(0, start) + wanted + text.slice(end + END.length));
    t.log('README.md section rewritten');
    return;
  }
  t.is(current, wanted, 'run UPDATE_README=1 npx ava test/resources/field-audit.test.ts');
});

// --- Through the real brindlectl and the daemon's cache ------------------------------------------------

async function scratch(t: { teardown: (f: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-fields-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'brindle.yaml');
  await writeFile(config, `datastore: { type: embedded, path: ${join(dir, 'store')} }\n`);
  return { dir, config };
}

const PEER = `apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: tor
spec:
  peerIP: 10.0.0.1
  asNumber: 65001
  reachableBy: 10.0.0.254
`;

const POOL = `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: pods
spec:
  cidr: 10.244.0.0/16
  natOutgoing: true
`;

test('brindlectl apply refuses a refused field at its line and writes nothing', async (t) => {
  const { dir, config } = await scratch(t);
  const file = join(dir, 'peer.yaml');
  await writeFile(file, `${POOL}---\n${PEER}`);
  const result = await brindlectl(config, 'apply', '-f', file);
  t.is(result.code, 1);
  t.is(result.stdout, '');
  t.deepEqual(result.stderr.trimEnd().split('\n'), [
    `${file}:7: warning: IPPool/pods: spec.natOutgoing: accepted and ignored: masquerading is done by Felix; Brindle does not masquerade`,
    `${file}:16: BGPPeer/tor: spec.reachableBy: not supported by Brindle: the static host route to the peer through this gateway is not implemented`,
    `Failed to apply resources from ${file}: 1 error(s); nothing was written`,
  ]);
  const pools = await brindlectl(config, 'get', 'ippool', '-o', 'json');
  t.is(pools.code, 0);
  t.deepEqual((JSON.parse(pools.stdout) as { items: unknown[] }).items, [], 'nothing was written');
});

test('brindlectl apply applies an ignored field with a warning at its line', async (t) => {
  const { dir, config } = await scratch(t);
  const file = join(dir, 'pool.yaml');
  await writeFile(file, POOL);
  const result = await brindlectl(config, 'apply', '-f', file);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, "Successfully applied 1 'IPPool' resource(s)\n");
  t.is(
    result.stderr,
    `${file}:7: warning: IPPool/pods: spec.natOutgoing: accepted and ignored: masquerading is done by Felix; Brindle does not masquerade\n`,
  );
});

test('the daemon applies a stored resource with a refused field as before, logging it at error once', async (t) => {
  const { dir } = await scratch(t);
  const store = await openLmdbStore({ path: join(dir, 'store') });
  t.teardown(() => store.close());
  // As a Brindle that did not refuse the field yet stored it: straight into the datastore.
  const peer = parsed(PEER)[0];
  await store.create('v3/bgppeer/tor', JSON.stringify(peer));
  await store.create('v3/ippool/pods', JSON.stringify(parsed(POOL)[0]));
  const lines: { level: number; event: string; fields?: string[] }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  const cache = new ResourceCache(store, pino({ level: 'info' }, sink));
  t.teardown(() => cache.stop());
  await cache.start();
  t.deepEqual(
    cache.current?.peers.map((p) => p.spec.reachableBy),
    ['10.0.0.254'],
    'the peer is still applied',
  );
  t.is(cache.current?.pools.length, 1);
  await cache.resync();
  const said = lines.filter((l) => l.event === 'unsupported-fields' || l.event === 'ignored-fields');
  t.deepEqual(
    said.map((l) => [l.level, l.event, l.fields]),
    [
      [
        50,
        'unsupported-fields',
        [
          'spec.reachableBy: not supported by Brindle: the static host route to the peer through this gateway is not implemented',
        ],
      ],
      [
        40,
        'ignored-fields',
        [
          'spec.natOutgoing: accepted and ignored: masquerading is done by Felix; Brindle does not masquerade',
        ],
      ],
    ],
    'once each, not again on the relist',
  );
});

test('ResourceStore.write refuses a refused field whoever writes, and writes the rest', async (t) => {
  const { dir } = await scratch(t);
  const store = await openLmdbStore({ path: join(dir, 'store') });
  t.teardown(() => store.close());
  const resources = new ResourceStore(store);
  t.deepEqual(await resources.write(parsed(PEER)[0], 'apply'), {
    ok: false,
    errors: [
      'BGPPeer/tor: spec.reachableBy: not supported by Brindle: the static host route to the peer through this gateway is not implemented',
    ],
  });
  t.true((await resources.write(parsed(POOL)[0], 'apply')).ok, 'an ignored field is no reason to refuse');
  t.deepEqual(
    (await resources.list()).map((r) => r.metadata.name),
    ['pods'],
  );
});

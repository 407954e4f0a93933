import test from 'ava';
import { crossCheck, parseResources } from '../../src/resources/index.ts';
import type { Resource } from '../../src/resources/index.ts';

function parse(text: string): Resource[] {
  const { resources, errors } = parseResources(text);
  if (errors.length > 0) throw new Error(errors.map((e) => e.message).join('\n'));
  return resources;
}

const pool = (name: string, cidr: string) =>
  `apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ${name}}\nspec: {cidr: "${cidr}"}\n---\n`;
const peer = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
const node = (name: string, labels: string) =>
  `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}}\n---\n`;

const messages = (findings: { resource: Resource; path: string; reason: string }[]) =>
  findings.map((f) => `${f.resource.kind}/${f.resource.metadata.name}: ${f.path}: ${f.reason}`);

test('overlapping pools are refused, in the file and against the datastore; disjoint ones are not', (t) => {
  const existing = parse(pool('old', '10.10.0.0/16'));
  const { errors } = crossCheck(parse(pool('new', '10.10.8.0/24') + pool('v6', 'fd00::/48')), existing);
  t.deepEqual(messages(errors), [
    'IPPool/new: spec.cidr: 10.10.8.0/24 overlaps IPPool/old (10.10.0.0/16); pools may not overlap',
  ]);
  t.deepEqual(crossCheck(parse(pool('other', '10.11.0.0/16')), existing).errors, []);
  // Re-applying a pool with its own CIDR is not an overlap with itself.
  t.deepEqual(crossCheck(parse(pool('old', '10.10.0.0/16')), existing).errors, []);
  const both = crossCheck(parse(pool('a', '10.0.0.0/8') + pool('b', '10.1.0.0/16')), []);
  t.is(both.errors.length, 2, 'each pool of the file is told');
});

test('two global BGPPeers for one address warn, naming both; node-scoped ones and other ports do not', (t) => {
  const existing = parse(peer('tor-a', '{peerIP: 10.0.0.1, asNumber: 65001}'));
  const { warnings } = crossCheck(parse(peer('tor-b', '{peerIP: 10.0.0.1, asNumber: 65002}')), existing);
  t.deepEqual(messages(warnings), [
    'BGPPeer/tor-b: spec.peerIP: 10.0.0.1 is also the peerIP of global BGPPeer/tor-a: only one session is made, with one of their settings',
  ]);
  const scoped = parse(peer('tor-c', "{peerIP: 10.0.0.1, asNumber: 65002, nodeSelector: rack == 'a'}"));
  t.deepEqual(crossCheck(scoped, existing).warnings, []);
  const port = parse(peer('tor-d', '{peerIP: "10.0.0.1:1179", asNumber: 65002}'));
  t.deepEqual(crossCheck(port, existing).warnings, []);
});

test('a selector that matches no Node warns once Nodes exist; a missing BGPFilter warns', (t) => {
  const nodes = parse(node('n1', '{rack: a}'));
  const incoming = parse(
    peer('p', "{peerIP: 10.0.0.9, asNumber: 65001, nodeSelector: rack == 'b', filters: [f1, missing]}") +
      'apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: f1}\nspec: {}\n',
  );
  t.deepEqual(messages(crossCheck(incoming, nodes).warnings), [
    `BGPPeer/p: spec.nodeSelector: "rack == 'b'" matches no Node (of 1)`,
    'BGPPeer/p: spec.filters[1]: names no BGPFilter "missing": it is skipped',
  ]);
  t.deepEqual(crossCheck(incoming, []).warnings.length, 1, 'no Node at all: selectors are not judged yet');
  const matching = parse(peer('q', "{peerIP: 10.0.0.9, asNumber: 65001, nodeSelector: rack == 'a'}"));
  t.deepEqual(crossCheck(matching, nodes).warnings, []);
});

test('an IPPool with two bad fields reports both, each at its own line', (t) => {
  const { errors } = parseResources(
    'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.0.0.0/16\n  blockSize: 40\n  ipipMode: Sometimes\n',
    'p.yaml',
  );
  t.deepEqual(
    errors.map((e) => `${e.source}: ${e.message}`),
    [
      'p.yaml:7: IPPool/p: spec.blockSize: 40 is out of range for an IPv4 pool (20–32)',
      'p.yaml:8: IPPool/p: spec.ipipMode: "Sometimes" is not one of Never, Always, CrossSubnet',
    ],
  );
});

test('the CRD apiVersion is read as projectcalico.org/v3, with a warning at its line', (t) => {
  const { resources, warnings, where } = parseResources(
    'apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: p}\nspec:\n  cidr: 10.0.0.0/16\n',
    'p.yaml',
  );
  t.is(resources[0].apiVersion, 'projectcalico.org/v3');
  t.is(warnings.length, 1);
  t.is(warnings[0].source, 'p.yaml:1');
  t.is(where(resources[0], 'spec.cidr'), 'p.yaml:5');
});

// The stored JSON of IPAM records (src/ipam/records.ts): Calico's field names, a golden block that
// decodes and encodes back to itself, and damaged records rejected with the field they break.

import { readFileSync } from 'node:fs';

import test from 'ava';

import { allocatedOrdinals, attributeOf } from '../../src/ipam/block.ts';
import { formatCidr, parseCidr } from '../../src/ipam/cidr.ts';
import { isIpamError } from '../../src/ipam/errors.ts';
import { affinityKey, blockKey, cidrFromKeyPart, handleKey } from '../../src/ipam/keys.ts';
import {
  decodeAffinity,
  decodeBlock,
  decodeHandle,
  encodeAffinity,
  encodeBlock,
  encodeHandle,
} from '../../src/ipam/records.ts';

const GOLDEN = readFileSync(new URL('./fixtures/block-10.65.0.0-26.json', import.meta.url), 'utf8');

test('keys: blocks and affinities spell the CIDR with "-", affinities grouped per host', (t) => {
  const v4 = parseCidr('10.65.0.0/26')!;
  const v6 = parseCidr('fd00:65::40/122')!;
  t.is(blockKey(v4), 'ipam/v2/block/10.65.0.0-26');
  t.is(blockKey(v6), 'ipam/v2/block/fd00:65::40-122');
  t.is(affinityKey('node-a', v4), 'ipam/v2/affinity/host:node-a/10.65.0.0-26');
  t.is(handleKey('k8s-pod-network.abc'), 'ipam/v2/handle/k8s-pod-network.abc');
  t.is(formatCidr(cidrFromKeyPart('fd00:65::40-122')!), 'fd00:65::40/122');
});

test('a stored block decodes with Calico field names and encodes back byte for byte', (t) => {
  const block = decodeBlock('golden', GOLDEN);
  t.is(formatCidr(block.cidr), '10.65.0.0/26');
  t.is(block.affinity, 'host:node-a');
  t.is(block.affinityClaimTime, Date.parse('2026-08-01T10:00:00.000Z'));
  t.deepEqual(allocatedOrdinals(block), [0, 1, 2]);
  t.is(attributeOf(block, 2)?.handleId, 'k8s-pod-network.abc');
  t.is(attributeOf(block, 1)?.secondary.type, 'ipipTunnelAddress');
  t.is(block.sequenceNumberForAllocation[1], 1785578400000002);
  t.is(block.unallocated.at(-1), 3);
  t.deepEqual(JSON.parse(encodeBlock(block)), JSON.parse(GOLDEN));
});

test('affinities and handles round-trip; the legacy empty affinity state reads as confirmed', (t) => {
  const cidr = parseCidr('10.65.0.0/26')!;
  const affinity = { state: 'pending' as const, node: 'node-a', cidr, claimTime: 1_000 };
  t.deepEqual(decodeAffinity('k', encodeAffinity(affinity)), affinity);
  t.deepEqual(JSON.parse(encodeAffinity(affinity)), {
    state: 'pending',
    node: 'node-a',
    type: 'host',
    cidr: '10.65.0.0/26',
    claimTime: '1970-01-01T00:00:01.000Z',
  });
  t.is(
    decodeAffinity('k', JSON.stringify({ state: '', node: 'n', cidr: '10.65.0.0/26' })).state,
    'confirmed',
  );
  const handle = { handleId: 'h', block: { '10.65.0.0/26': 2 }, updatedAt: 5_000 };
  t.deepEqual(decodeHandle('k', encodeHandle(handle)), handle);
  t.deepEqual(Object.keys(JSON.parse(encodeHandle(handle)) as object), ['handleID', 'block', 'updatedAt']);
});

test('damaged blocks are refused as corrupt, naming the key and the field', (t) => {
  const golden = JSON.parse(GOLDEN) as Record<string, unknown>;
  const damaged: [string, Record<string, unknown>, RegExp][] = [
    ['host bits', { cidr: '10.65.0.1/26' }, /cidr: not a masked CIDR/],
    ['short allocations', { allocations: [0] }, /allocations: has 1 entries, not 64/],
    [
      'bad attribute index',
      { allocations: [5, ...(golden.allocations as unknown[]).slice(1)] },
      /allocations\[0\]/,
    ],
    [
      'ordinal free and allocated',
      { unallocated: [0, ...(golden.unallocated as number[])] },
      /listed twice or allocated/,
    ],
    [
      'free ordinal missing',
      { unallocated: (golden.unallocated as number[]).slice(1) },
      /lists 60 ordinals, 61 are free/,
    ],
    ['negative sequence', { sequenceNumber: -1 }, /sequenceNumber: not a whole number/],
  ];
  for (const [what, change, reason] of damaged) {
    const error = t.throws(
      () => decodeBlock('ipam/v2/block/x', JSON.stringify({ ...golden, ...change })),
      undefined,
      what,
    );
    t.true(isIpamError(error, 'corrupt'), what);
    t.regex(error?.message ?? '', /ipam\/v2\/block\/x/);
    t.regex(error?.message ?? '', reason, what);
  }
});

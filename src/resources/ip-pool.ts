// IPPool (calico-routing.md §6): the field schema and the rules across fields (CRD CEL and the
// Go validator in libcalico-go).

import { parsePrefix } from '../lib/prefix.ts';
import { parseSelector, SelectorError } from './selector.ts';
import { bool, crossChecked, integer, listOf, object, oneOf, text } from './checks.ts';
import type { Issue } from './checks.ts';
import { cidr, selector } from './common.ts';
import { ipPoolAllowedUses, ipPoolBlockSize } from './defaults.ts';
import { ALLOWED_USES, ASSIGNMENT_MODES, ENCAPSULATION_MODES } from './types.ts';
import type { IPPoolCondition, IPPoolSpec } from './types.ts';
import { parseNetwork, prefixesOverlap } from './values.ts';
import type { IpFamily } from './values.ts';

/** §6: block sizes by family. */
const BLOCK_SIZE_RANGE: Readonly<Record<IpFamily, readonly [number, number]>> = {
  4: [20, 32],
  6: [116, 128],
};

/** §6: pools may not overlap the link-local ranges. */
const LINK_LOCAL = { 4: parsePrefix('169.254.0.0/16')!, 6: parsePrefix('fe80::/10')! } as const;

export const ipPoolSpec = crossChecked(
  object<IPPoolSpec>(
    {
      cidr: cidr({ strict: true, maxLength: 48 }),
      blockSize: integer(0, 128),
      ipipMode: oneOf(ENCAPSULATION_MODES),
      vxlanMode: oneOf(ENCAPSULATION_MODES),
      natOutgoing: bool,
      disabled: bool,
      disableBGPExport: bool,
      nodeSelector: selector,
      namespaceSelector: selector,
      allowedUses: listOf(oneOf(ALLOWED_USES)),
      assignmentMode: oneOf(ASSIGNMENT_MODES),
    },
    ['cidr'],
  ),
  (spec, path) =>
    POOL_RULES.flatMap((rule) => rule(spec, familyOf(spec))).map((i) => ({
      ...i,
      path: `${path}.${i.path}`,
    })),
  // Every pool rule reads the family from the CIDR.
  ['cidr'],
);

export const ipPoolStatus = object<{ conditions?: IPPoolCondition[] }>({
  conditions: listOf(
    object<IPPoolCondition>(
      {
        type: text(),
        status: text(),
        reason: text(),
        message: text(),
        lastTransitionTime: text(),
        observedGeneration: integer(0, Number.MAX_SAFE_INTEGER),
      },
      ['type', 'status'],
    ),
  ),
});

function familyOf(spec: IPPoolSpec): IpFamily {
  return parseNetwork(spec.cidr)?.family ?? 4;
}

type PoolRule = (spec: IPPoolSpec, family: IpFamily) => Issue[];

const enabled = (mode: string | undefined): boolean => mode !== undefined && mode !== 'Never';

const POOL_RULES: readonly PoolRule[] = [
  blockSizeRule,
  // IPIP is IPv4-only (§13.4).
  (spec, family) =>
    family === 6 && enabled(spec.ipipMode)
      ? [{ path: 'ipipMode', reason: 'must be Never for an IPv6 pool' }]
      : [],
  (spec) =>
    enabled(spec.ipipMode) && enabled(spec.vxlanMode)
      ? [{ path: 'vxlanMode', reason: 'IPIP and VXLAN cannot both be enabled on one pool' }]
      : [],
  (spec, family) => {
    const pool = parseNetwork(spec.cidr)?.prefix;
    return pool && prefixesOverlap(pool, LINK_LOCAL[family])
      ? [
          {
            path: 'cidr',
            reason: `overlaps the link-local range ${family === 4 ? '169.254.0.0/16' : 'fe80::/10'}`,
          },
        ]
      : [];
  },
  (spec) =>
    usesGlobal(spec.nodeSelector)
      ? [{ path: 'nodeSelector', reason: 'global() is not allowed in an IPPool' }]
      : [],
  (spec) =>
    new Set(spec.allowedUses).size === (spec.allowedUses?.length ?? 0)
      ? []
      : [{ path: 'allowedUses', reason: 'lists a use more than once' }],
  loadBalancerRule,
  // §6: namespaceSelector applies to workloads; tunnel addresses belong to no namespace.
  (spec) =>
    spec.namespaceSelector !== undefined && ipPoolAllowedUses(spec).includes('Tunnel')
      ? [{ path: 'namespaceSelector', reason: 'not allowed on a pool used for Tunnel addresses' }]
      : [],
];

/** §6: the block size is in range for the family, and a usable pool holds at least one block. */
function blockSizeRule(spec: IPPoolSpec, family: IpFamily): Issue[] {
  const blockSize = ipPoolBlockSize(spec);
  const [min, max] = BLOCK_SIZE_RANGE[family];
  if (blockSize < min || blockSize > max) {
    return [
      { path: 'blockSize', reason: `${blockSize} is out of range for an IPv${family} pool (${min}–${max})` },
    ];
  }
  const prefixLength = parseNetwork(spec.cidr)?.prefix.length ?? 0;
  if (prefixLength > blockSize && spec.disabled !== true) {
    return [
      {
        path: 'cidr',
        reason: `a /${prefixLength} pool is smaller than its /${blockSize} blocks (disable it or grow it)`,
      },
    ];
  }
  return [];
}

/** §6, §13.5: LoadBalancer pools stand alone, unencapsulated, exported, on every node. */
function loadBalancerRule(spec: IPPoolSpec): Issue[] {
  if (!spec.allowedUses?.includes('LoadBalancer')) return [];
  const issues: Issue[] = [];
  if (spec.allowedUses.length > 1)
    issues.push({ path: 'allowedUses', reason: 'LoadBalancer cannot be combined with other uses' });
  if (enabled(spec.ipipMode) || enabled(spec.vxlanMode)) {
    issues.push({
      path: enabled(spec.ipipMode) ? 'ipipMode' : 'vxlanMode',
      reason: 'must be Never for a LoadBalancer pool',
    });
  }
  if (spec.disableBGPExport === true)
    issues.push({ path: 'disableBGPExport', reason: 'must be false for a LoadBalancer pool' });
  if (!selectsEverything(spec.nodeSelector))
    issues.push({ path: 'nodeSelector', reason: 'must be all() for a LoadBalancer pool' });
  return issues;
}

function usesGlobal(text: string | undefined): boolean {
  if (text === undefined) return false;
  const parsed = parseSelector(text);
  return !(parsed instanceof SelectorError) && parsed.usesGlobal;
}

function selectsEverything(text: string | undefined): boolean {
  return text === undefined || text.trim() === '' || text.trim() === 'all()';
}

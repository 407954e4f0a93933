// BGPFilter (calico-routing.md §4.1): stored and validated now; applied by the RIB's policy later.

import { crossChecked, integer, listOf, object, oneOf, text } from './checks.ts';
import type { Check, Issue } from './checks.ts';
import { asNumber, cidr, communityValue } from './common.ts';
import { FILTER_ACTIONS, MATCH_OPERATORS, MATCH_SOURCES, PEER_TYPES } from './types.ts';
import type {
  BGPFilterCommunityMatch,
  BGPFilterOperation,
  BGPFilterPrefixLength,
  BGPFilterRule,
  BGPFilterSpec,
} from './types.ts';
import { isInterfacePattern } from './values.ts';
import type { IpFamily } from './values.ts';

/** Priorities are route metrics; LOCAL_PREF = 2147483647 − priority must stay positive (§4.3). */
const priority = integer(1, 2147483646);

const operation = crossChecked(
  object<BGPFilterOperation>({
    addCommunity: object<{ value: string }>({ value: communityValue }, ['value']),
    prependASPath: object<{ prefix: number[] }>({ prefix: listOf(asNumber, { min: 1, max: 10 }) }, [
      'prefix',
    ]),
    setPriority: object<{ value: number }>({ value: priority }, ['value']),
  }),
  // CEL: an operation is a union; exactly one member is set.
  (op, path) =>
    Object.keys(op).length === 1
      ? []
      : [{ path, reason: 'exactly one of addCommunity, prependASPath or setPriority must be set' }],
);

function rule(family: IpFamily, direction: 'import' | 'export'): Check<BGPFilterRule> {
  const maxLength = family === 4 ? 32 : 128;
  return crossChecked(
    object<BGPFilterRule>(
      {
        cidr: cidr({ family, maxLength: family === 4 ? 18 : 43 }),
        prefixLength: object<BGPFilterPrefixLength>({
          min: integer(0, maxLength),
          max: integer(0, maxLength),
        }),
        source: oneOf(MATCH_SOURCES),
        interface: text(
          isInterfacePattern,
          'is not an interface pattern (1–15 characters of [a-zA-Z0-9_.*-])',
        ),
        matchOperator: oneOf(MATCH_OPERATORS),
        peerType: oneOf(PEER_TYPES),
        communities: object<BGPFilterCommunityMatch>({ values: listOf(communityValue, { min: 1, max: 1 }) }, [
          'values',
        ]),
        asPathPrefix: listOf(asNumber),
        priority,
        action: oneOf(FILTER_ACTIONS),
        operations: listOf(operation, { min: 1, max: 10 }),
      },
      ['action'],
    ),
    (r, path) => ruleInvariants(r, direction).map((issue) => ({ ...issue, path: `${path}.${issue.path}` })),
  );
}

/** The CEL rules on BGPFilterRuleV4/V6 and on the import lists. */
function ruleInvariants(r: BGPFilterRule, direction: 'import' | 'export'): Issue[] {
  const issues: Issue[] = [];
  if ((r.cidr === undefined) !== (r.matchOperator === undefined)) {
    issues.push({
      path: r.cidr === undefined ? 'cidr' : 'matchOperator',
      reason: 'cidr and matchOperator must be set together',
    });
  }
  if (r.prefixLength !== undefined && r.cidr === undefined)
    issues.push({ path: 'prefixLength', reason: 'requires cidr' });
  if (r.operations !== undefined && r.action !== 'Accept')
    issues.push({ path: 'operations', reason: 'only allowed with action Accept' });
  // Every imported route comes from a BGP peer, so `source` cannot narrow an import rule.
  if (direction === 'import' && r.source !== undefined)
    issues.push({ path: 'source', reason: 'not applicable to import rules' });
  return issues;
}

export const bgpFilterSpec = object<BGPFilterSpec>({
  exportV4: listOf(rule(4, 'export')),
  importV4: listOf(rule(4, 'import')),
  exportV6: listOf(rule(6, 'export')),
  importV6: listOf(rule(6, 'import')),
});

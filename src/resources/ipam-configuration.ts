// IPAMConfiguration (calico-routing.md §7.1): the singleton `default` and its cross-field rules,
// which Calico enforces in SetIPAMConfig rather than in the CRD.

import { bool, crossChecked, integer, object, oneOf } from './checks.ts';
import type { Issue } from './checks.ts';
import { KUBEVIRT_VM_ADDRESS_PERSISTENCES } from './types.ts';
import type { IPAMConfiguration, IPAMConfigurationSpec } from './types.ts';

export const IPAM_CONFIG_NAME = 'default';

export const ipamConfigurationSpec = crossChecked(
  object<IPAMConfigurationSpec>({
    strictAffinity: bool,
    autoAllocateBlocks: bool,
    maxBlocksPerHost: integer(0, 1_000_000),
    kubeVirtVMAddressPersistence: oneOf(KUBEVIRT_VM_ADDRESS_PERSISTENCES),
    ipCooldownSeconds: integer(0, 1200),
  }),
  (spec, path) => {
    const issues: Issue[] = [];
    // Without auto-allocation and without borrowing a host could never get an address.
    if (spec.strictAffinity !== true && spec.autoAllocateBlocks === false) {
      issues.push({
        path: `${path}.autoAllocateBlocks`,
        reason: 'cannot be false unless strictAffinity is true',
      });
    }
    if ((spec.maxBlocksPerHost ?? 0) > 0 && spec.strictAffinity !== true) {
      issues.push({
        path: `${path}.maxBlocksPerHost`,
        reason: 'a non-zero value requires strictAffinity: true',
      });
    }
    return issues;
  },
);

export function ipamConfigurationRules(config: IPAMConfiguration): Issue[] {
  return config.metadata.name === IPAM_CONFIG_NAME
    ? []
    : [
        {
          path: 'metadata.name',
          reason: `${JSON.stringify(config.metadata.name)} is not "default" (the only IPAMConfiguration)`,
        },
      ];
}

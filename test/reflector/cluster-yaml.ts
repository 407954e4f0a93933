// Clusters written as Calico YAML for the topology tests: Node, BGPPeer and BGPConfiguration
// documents, parsed and validated as `brindlectl apply` would.
import { formatValidationError, parseResources } from '../../src/resources/index.ts';
import type { BGPConfiguration, BGPPeer, Node } from '../../src/resources/index.ts';
import type { TopologyInput } from '../../src/reflector/topology.ts';

export type Cluster = Omit<TopologyInput, 'localNode'>;

export function cluster(yaml: string): Cluster {
  const { resources, errors } = parseResources(yaml);
  if (errors.length > 0) throw new Error(errors.map(formatValidationError).join('\n'));
  return {
    nodes: resources.filter((r): r is Node => r.kind === 'Node'),
    peers: resources.filter((r): r is BGPPeer => r.kind === 'BGPPeer'),
    configs: resources.filter((r): r is BGPConfiguration => r.kind === 'BGPConfiguration'),
  };
}

export const node = (name: string, bgp: string, labels = '{}') =>
  `apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {bgp: ${bgp}}\n---\n`;
export const peer = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
export const config = (name: string, spec: string) =>
  `apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
export const MESH_OFF = config('default', '{nodeToNodeMeshEnabled: false}');

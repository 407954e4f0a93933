// What a change to the resources would do to this node's BGP sessions, before it is written: the
// sessions computed from the resources as they are and as they would be (`computeTopology`), matched
// by name (`diffPeerings`), and each change judged as the daemon judges it when it applies the
// change: a session added, removed, reset (a field it cannot take on while up changed) or changed in
// place (its BGPFilters, re-evaluated without a reset, §4.2). `brindlectl apply --dry-run` shows it.

import { formatValidationError, parseResources, RESOURCE_KINDS } from '../resources/index.ts';
import type { BGPConfiguration, BGPPeer, Node, Resource, ResourceKind } from '../resources/index.ts';
import { computeTopology, diffPeerings } from './topology.ts';
import type { DesiredPeering, SpeakerSettings } from './topology.ts';

/** Fields of a desired peering that are only informational: a change to them restarts nothing. */
export const INFORMATIONAL_FIELDS: ReadonlySet<string> = new Set(['bgpPeer']);
/** Fields a running session takes on without a restart (the router re-evaluates its routes). */
export const LIVE_FIELDS: ReadonlySet<string> = new Set(['filters']);
/**
 * The speaker's own settings whose change makes a new router, restarting every session (the
 * daemon's SpeakerIdentity: router ID, AS, cluster ID, listen addresses and port).
 */
const SPEAKER_IDENTITY_FIELDS = [
  'routerId',
  'asNumber',
  'routeReflectorClusterId',
  'listenAddresses',
  'listenPort',
] as const satisfies readonly (keyof SpeakerSettings)[];

/** The changed fields that force a session reset: all but the informational and live ones. */
export function resetFields(fields: readonly string[]): string[] {
  return fields.filter((f) => !INFORMATIONAL_FIELDS.has(f) && !LIVE_FIELDS.has(f));
}

export type PreviewOperation = 'apply' | 'delete';

/** The resources as the datastore holds them (the daemon's cache), the parts the sessions follow. */
export interface PreviewSnapshot {
  readonly nodes: readonly Node[];
  readonly peers: readonly BGPPeer[];
  readonly configs: readonly BGPConfiguration[];
}

/** A resource named by its kind and name: all a delete needs. */
export type ResourceRef = Pick<Resource, 'kind' | 'metadata'>;

export interface PreviewInput {
  readonly snapshot: PreviewSnapshot;
  readonly localNode: string;
  readonly routerId?: string;
  readonly operation: PreviewOperation;
  /** Whole resources for apply; for delete only kind and name count. */
  readonly resources: readonly ResourceRef[];
}

export interface SessionLine {
  /** BIRD's protocol name (`Node_10_0_0_9`). */
  readonly session: string;
  /** The BGPPeer behind it; absent for the node-to-node mesh. */
  readonly bgpPeer?: string;
  readonly remoteAddress: string;
  /** For reset and changed-in-place: the fields that differ (for reset, those that force it). */
  readonly fields?: readonly string[];
}

export interface SessionPreview {
  readonly added: readonly SessionLine[];
  readonly removed: readonly SessionLine[];
  readonly reset: readonly SessionLine[];
  readonly changedInPlace: readonly SessionLine[];
  readonly unchanged: number;
  /**
   * The speaker's identity fields that would change: a new router, every session restarts. Absent
   * when none does.
   */
  readonly speakerRestart?: readonly string[];
  /** Why no sessions could be computed for this node after the change (no Node resource). */
  readonly note?: string;
}

export interface PreviewRequest {
  readonly operation: PreviewOperation;
  readonly resources: readonly ResourceRef[];
}

/**
 * The control socket's request body, `{operation, resources}`, checked as the datastore would check
 * a write: resources to apply are validated whole; those to delete need a known kind and a name.
 */
export function parsePreviewRequest(body: unknown): PreviewRequest | { readonly errors: string[] } {
  const { operation, resources } = (body ?? {}) as { operation?: unknown; resources?: unknown };
  if (operation !== 'apply' && operation !== 'delete')
    return { errors: ['operation must be "apply" or "delete"'] };
  if (!Array.isArray(resources)) return { errors: ['resources must be an array'] };
  if (operation === 'delete') {
    const errors = resources.flatMap((r: unknown, i) =>
      isRef(r) ? [] : [`resources[${i}]: no kind and name`],
    );
    return errors.length > 0 ? { errors } : { operation, resources: resources as ResourceRef[] };
  }
  const parsed = parseResources(JSON.stringify(resources), 'request');
  if (parsed.errors.length > 0) return { errors: parsed.errors.map(formatValidationError) };
  return { operation, resources: parsed.resources };
}

function isRef(r: unknown): r is ResourceRef {
  const { kind, metadata } = (r ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
  return (
    RESOURCE_KINDS.includes(kind as ResourceKind) &&
    typeof metadata?.name === 'string' &&
    metadata.name !== ''
  );
}

/** The sessions the change would add, remove, reset or change in place on `localNode`. */
export function previewSessions(input: PreviewInput): SessionPreview {
  return previewTopology(input).sessions;
}

/** The resources after the change, the sessions they make, and how those differ from today's. */
export interface TopologyPreview<S extends PreviewSnapshot> {
  readonly sessions: SessionPreview;
  /** The snapshot with the change laid over it. */
  readonly candidate: S;
  /** This node's sessions after the change (none without a Node resource). */
  readonly peerings: readonly DesiredPeering[];
}

export function previewTopology<S extends PreviewSnapshot>(
  input: PreviewInput & { readonly snapshot: S },
): TopologyPreview<S> {
  const topology = (snapshot: PreviewSnapshot) =>
    computeTopology({ localNode: input.localNode, routerId: input.routerId, ...snapshot });
  const candidate = overlay(input.snapshot, input.operation, input.resources);
  const before = topology(input.snapshot);
  const after = topology(candidate);
  const diff = diffPeerings(before.peerings, after.peerings);
  const reset: SessionLine[] = [];
  const changedInPlace: SessionLine[] = [];
  for (const change of diff.changed) {
    const forcing = resetFields(change.fields);
    if (forcing.length > 0) reset.push(line(change.after, forcing));
    else changedInPlace.push(line(change.after, change.fields));
  }
  const speakerRestart = identityChanges(before.speaker, after.speaker);
  const sessions = {
    added: diff.added.map((p) => line(p)),
    removed: diff.removed.map((p) => line(p)),
    reset,
    changedInPlace,
    unchanged: diff.unchanged.length,
    ...(speakerRestart.length > 0 ? { speakerRestart } : {}),
    ...(after.speaker ? {} : { note: `no Node resource for ${input.localNode}: it would have no sessions` }),
  };
  return { sessions, candidate, peerings: after.peerings };
}

function line(p: DesiredPeering, fields?: readonly string[]): SessionLine {
  return {
    session: p.name,
    ...(p.bgpPeer !== undefined ? { bgpPeer: p.bgpPeer } : {}),
    remoteAddress: p.remoteAddress,
    ...(fields ? { fields } : {}),
  };
}

/** Where a snapshot keeps each kind (resources/store.ts). */
const SNAPSHOT_FIELDS = {
  BGPConfiguration: 'configs',
  BGPPeer: 'peers',
  BGPFilter: 'filters',
  Node: 'nodes',
  IPPool: 'pools',
  IPAMConfiguration: 'ipamConfigs',
  BFDConfiguration: 'bfdConfigs',
} as const satisfies Record<ResourceKind, string>;

/** The snapshot with the resources written (same kind and name replaced) or deleted, for the kinds it holds. */
function overlay<S extends PreviewSnapshot>(
  snapshot: S,
  operation: PreviewOperation,
  resources: readonly ResourceRef[],
): S {
  const fields = Object.entries(SNAPSHOT_FIELDS).filter(([, field]) => field in snapshot);
  const held = snapshot as unknown as Record<string, readonly ResourceRef[]>;
  const key = (r: ResourceRef) => `${r.kind}/${r.metadata.name}`;
  const byKey = new Map<string, ResourceRef>();
  for (const [, field] of fields) for (const r of held[field]) byKey.set(key(r), r);
  for (const r of resources) {
    if (operation === 'delete') byKey.delete(key(r));
    else byKey.set(key(r), r);
  }
  const result: Record<string, unknown> = { ...held };
  for (const [kind, field] of fields) result[field] = [...byKey.values()].filter((r) => r.kind === kind);
  return result as unknown as S;
}

function identityChanges(a: SpeakerSettings | undefined, b: SpeakerSettings | undefined): string[] {
  if (!a || !b) return [];
  return SPEAKER_IDENTITY_FIELDS.filter((f) => JSON.stringify(a[f] ?? null) !== JSON.stringify(b[f] ?? null));
}

// From text or JSON values to typed, validated resources. `parseResources` reads YAML (several
// documents separated by `---`), JSON, or a `List`; `decodeResource` checks one value — field
// types, ranges, enums, then the rules across fields — and either returns the resource, normalised
// (apiVersion projectcalico.org/v3, AS numbers as numbers), or every reason it is invalid: an
// invalid resource is rejected whole.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode, Scalar } from 'yaml';
import { bfdConfigurationSpec } from './bfd-configuration.ts';
import { bgpConfigurationRules, bgpConfigurationSpec } from './bgp-configuration.ts';
import { bgpFilterSpec } from './bgp-filter.ts';
import { bgpPeerSpec } from './bgp-peer.ts';
import { fieldPath, fieldPaths, isRecord, show } from './checks.ts';
import type { Check, Issue } from './checks.ts';
import { metadata } from './common.ts';
import { ipPoolSpec, ipPoolStatus } from './ip-pool.ts';
import { ipamConfigurationRules, ipamConfigurationSpec } from './ipam-configuration.ts';
import { nodeSpec, nodeStatus } from './node.ts';
import { API_VERSION, API_VERSIONS, CRD_API_VERSION, RESOURCE_KINDS } from './types.ts';
import type { ParseResult, Resource, ResourceKind, ResourceOfKind, ValidationError } from './types.ts';

interface KindSchema<K extends ResourceKind> {
  readonly spec: Check<ResourceOfKind<K>['spec']>;
  /** Kinds whose spec has required fields; the others may omit `spec`. */
  readonly specRequired?: boolean;
  readonly status?: Check<unknown>;
  /** Rules that need more than the spec (names, for instance). */
  readonly rules?: (resource: ResourceOfKind<K>) => Issue[];
}

const KINDS: { readonly [K in ResourceKind]: KindSchema<K> } = {
  BGPConfiguration: { spec: bgpConfigurationSpec, rules: bgpConfigurationRules },
  BGPPeer: { spec: bgpPeerSpec },
  BGPFilter: { spec: bgpFilterSpec },
  Node: { spec: nodeSpec, status: nodeStatus },
  IPPool: { spec: ipPoolSpec, specRequired: true, status: ipPoolStatus },
  IPAMConfiguration: { spec: ipamConfigurationSpec, rules: ipamConfigurationRules },
  BFDConfiguration: { spec: bfdConfigurationSpec },
};

export type DecodeResult =
  | { readonly resource: Resource; readonly errors: [] }
  | { readonly resource?: undefined; readonly errors: ValidationError[] };

export function validationError(
  kind: string,
  name: string,
  path: string,
  reason: string,
  source?: string,
): ValidationError {
  const subject = kind === '' ? '' : `${kind}/${name}: `;
  const message = `${subject}${path === '' ? '' : `${path}: `}${reason}`;
  return source === undefined
    ? { kind, name, path, reason, message }
    : { kind, name, path, reason, source, message };
}

/** `source: message`, the one-line form for logs and the CLI. */
export function formatValidationError(error: ValidationError): string {
  return error.source === undefined ? error.message : `${error.source}: ${error.message}`;
}

/** Checks one resource value (from YAML, JSON, or the datastore) and returns it typed, or why not. */
export function decodeResource(value: unknown, source?: string): DecodeResult {
  const kind = isRecord(value) && typeof value.kind === 'string' ? value.kind : '';
  const name =
    isRecord(value) && isRecord(value.metadata) && typeof value.metadata.name === 'string'
      ? value.metadata.name
      : '<unnamed>';
  const fail = (issues: readonly Issue[]): DecodeResult => ({
    errors: issues.map((i) => validationError(kind || 'resource', name, i.path, i.reason, source)),
  });
  if (!isRecord(value)) return fail([{ path: '', reason: `expected a resource object, got ${show(value)}` }]);
  if (!(RESOURCE_KINDS as readonly string[]).includes(kind)) {
    return fail([{ path: 'kind', reason: `${show(value.kind)} is not one of ${RESOURCE_KINDS.join(', ')}` }]);
  }
  const issues: Issue[] = [];
  const resource = decodeKnownKind(kind as ResourceKind, value, issues);
  return resource && issues.length === 0 ? { resource, errors: [] } : fail(issues);
}

function decodeKnownKind(
  kind: ResourceKind,
  value: Record<string, unknown>,
  issues: Issue[],
): Resource | undefined {
  const schema = KINDS[kind] as KindSchema<ResourceKind>;
  if (!(API_VERSIONS as readonly string[]).includes(value.apiVersion as string)) {
    issues.push({
      path: 'apiVersion',
      reason: `${show(value.apiVersion)} is not one of ${API_VERSIONS.join(', ')}`,
    });
  }
  const allowed = ['apiVersion', 'kind', 'metadata', 'spec', ...(schema.status ? ['status'] : [])];
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) issues.push({ path: fieldPath('', key), reason: 'unknown field' });
  }
  const meta = metadata(value.metadata, 'metadata', issues);
  const specValue = value.spec ?? (schema.specRequired ? undefined : {});
  if (specValue === undefined) issues.push({ path: 'spec', reason: 'required' });
  const spec = specValue === undefined ? undefined : schema.spec(specValue, 'spec', issues);
  const status =
    value.status === undefined || value.status === null || !schema.status
      ? undefined
      : schema.status(value.status, 'status', issues);
  if (issues.length > 0 || !meta || !spec) return undefined;
  const resource = {
    apiVersion: API_VERSION,
    kind,
    metadata: meta,
    spec,
    ...(status ? { status } : {}),
  } as Resource;
  issues.push(...(schema.rules?.(resource) ?? []));
  return resource;
}

/** Every field a resource of `kind` may carry, in schema order (`fieldPaths`' notation). */
export function acceptedFields(kind: ResourceKind): string[] {
  const schema = KINDS[kind] as KindSchema<ResourceKind>;
  return [
    ...fieldPaths(metadata, 'metadata'),
    ...fieldPaths(schema.spec, 'spec'),
    ...(schema.status ? fieldPaths(schema.status, 'status') : []),
  ];
}

/** The reasons a resource is invalid; empty when it is valid. */
export function validateResource(value: unknown): ValidationError[] {
  return decodeResource(value).errors;
}

/**
 * Parses YAML or JSON text holding one or more resources (`---`-separated documents, a JSON array,
 * or a `List` / `<Kind>List` with `items`). Valid resources come back in order; every invalid one is
 * left out and explained. `source` (a file name) prefixes the line numbers in errors.
 */
export function parseResources(text: string, source?: string): ParseResult {
  const lineCounter = new LineCounter();
  const where = (offset: number | undefined) => {
    const line = offset === undefined ? 1 : lineCounter.linePos(offset).line;
    return source === undefined ? `line ${line}` : `${source}:${line}`;
  };
  const resources: Resource[] = [];
  const errors: ValidationError[] = [];
  const warnings: ValidationError[] = [];
  const nodes = new Map<Resource, YamlNode | undefined>();
  const seen = new Map<string, string>();
  const accept = (entry: Entry) => {
    const at = where(entry.node?.range?.[0]);
    const result = decodeResource(entry.value, at);
    // Each error points at the line of the field it names, not at the document's first line.
    const located = result.errors.map((error) => ({
      error,
      offset: fieldNode(entry.node, error.path)?.range?.[0],
    }));
    located.sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
    for (const { error, offset } of located) errors.push({ ...error, source: where(offset) });
    if (!result.resource) return;
    const { kind, metadata } = result.resource;
    if (isRecord(entry.value) && entry.value.apiVersion === CRD_API_VERSION) {
      const reason = `${CRD_API_VERSION} is the CRD group Calico stores resources in; read as ${API_VERSION}, the API's version`;
      warnings.push(
        validationError(
          kind,
          metadata.name,
          'apiVersion',
          reason,
          where(fieldNode(entry.node, 'apiVersion')?.range?.[0]),
        ),
      );
    }
    const id = `${kind}/${metadata.name}`;
    const first = seen.get(id);
    if (first === undefined) {
      seen.set(id, at);
      resources.push(result.resource);
      nodes.set(result.resource, entry.node);
    } else {
      errors.push(
        validationError(
          result.resource.kind,
          result.resource.metadata.name,
          '',
          `defined again (first at ${first})`,
          at,
        ),
      );
    }
  };
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    if (doc.errors.length > 0) {
      // The parser's message ends with its own "at line L, column C:" and a code frame; the line
      // is already in the source, so keep the sentence and add the column.
      for (const e of doc.errors) {
        const sentence = e.message
          .split('\n')[0]
          .replace(/ at line \d+, column \d+:?$/, '')
          .replace(/:$/, '');
        const column = e.linePos?.[0]?.col;
        const reason = `invalid YAML${column === undefined ? '' : ` (column ${column})`}: ${sentence}`;
        errors.push(validationError('', '', '', reason, where(e.pos[0])));
      }
      continue;
    }
    for (const entry of documentEntries(doc)) accept(entry);
  }
  const locate = (resource: Resource, path = '') => {
    const node = nodes.get(resource);
    return where((path === '' ? node : fieldNode(node, path))?.range?.[0]);
  };
  return { resources, errors, warnings, where: locate };
}

interface Entry {
  readonly value: unknown;
  readonly node: YamlNode | undefined;
}

/**
 * The deepest YAML node on a field path (`spec.rules[0].cidr`, `metadata.labels["a/b"]`): the field's
 * value, or the nearest enclosing node that exists when the field is missing.
 */
function fieldNode(root: YamlNode | undefined, path: string): YamlNode | undefined {
  let node = root;
  for (const [, name, index, quoted] of path.matchAll(
    /\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g,
  )) {
    const next: unknown =
      index !== undefined
        ? isSeq(node)
          ? node.items[Number(index)]
          : undefined
        : isMap(node)
          ? node.get(name ?? (JSON.parse(quoted) as string), true)
          : undefined;
    if (next === undefined || next === null || typeof next !== 'object') break;
    node = next as YamlNode;
  }
  return node;
}

/** The resources one document holds: itself, the items of a List, or the elements of an array. */
function documentEntries(doc: Document.Parsed): Entry[] {
  const root = doc.contents;
  const value = toPlain(root, doc);
  // An empty document (a trailing `---`, a file of comments) holds nothing.
  if (root === null || value === null) return [];
  const items = isSeq(root) ? root : isList(value) && isMap(root) ? root.get('items', true) : undefined;
  if (isSeq(items)) return items.items.map((item) => ({ value: toPlain(item, doc), node: item }));
  return [{ value, node: root }];
}

function isList(value: unknown): boolean {
  return (
    isRecord(value) &&
    typeof value.kind === 'string' &&
    value.kind.endsWith('List') &&
    Array.isArray(value.items)
  );
}

/**
 * YAML nodes → plain values. Numbers keep their source text when it is not an integer literal, so a
 * dotted AS number written bare (`asNumber: 1.10`) is not read as the float 1.1.
 */
function toPlain(node: unknown, doc: Document.Parsed): unknown {
  if (isAlias(node)) return toPlain(node.resolve(doc), doc);
  if (isScalar(node)) return scalarValue(node);
  if (isSeq(node)) return node.items.map((item) => toPlain(item, doc));
  if (isMap(node)) {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = String(toPlain(pair.key, doc));
      Object.defineProperty(out, key, {
        value: toPlain(pair.value, doc),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return null;
}

function scalarValue(scalar: Scalar): unknown {
  if (typeof scalar.value === 'number' && scalar.source !== undefined && !/^[-+]?\d+$/.test(scalar.source)) {
    return scalar.source;
  }
  return scalar.value;
}

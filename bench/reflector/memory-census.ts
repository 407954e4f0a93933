// What a process's memory is made of, for the memory census of bench/reflector/path-memory.ts (and
// any process whose /proc/PID/smaps this one may read): RSS by kind of mapping, V8's spaces as
// v8.getHeapSpaceStatistics() counts them, and a heap snapshot's self sizes by object kind.
//
// RSS is split the way the kernel maps it:
// - file-backed mappings: the node binary's text and data, shared libraries;
// - `[heap]`: glibc's main malloc arena (brk), where Node's C++ objects and the backing stores of
//   ArrayBuffers and Buffers below the mmap threshold live;
// - anonymous mappings: V8's heap pages (each space's physical size, from V8 itself) and the rest
//   (glibc's per-thread arenas, backing stores mmapped on their own, V8's code range);
// - stacks.
import { readFileSync } from 'node:fs';
import { getHeapSnapshot, getHeapSpaceStatistics } from 'node:v8';

export interface RssParts {
  /** File-backed: code and libraries. */
  readonly file: number;
  /** glibc's main arena, `[heap]`. */
  readonly glibcHeap: number;
  readonly stack: number;
  /** Every other anonymous mapping, V8's heap included. */
  readonly anonymous: number;
  readonly total: number;
}

type RssKind = 'file' | 'glibcHeap' | 'stack' | 'anonymous';

const MAPPING_HEADER = /^[0-9a-f]+-[0-9a-f]+ /;

function mappingKind(header: string): RssKind {
  // address perms offset dev inode [path]
  const path = header.split(/\s+/).slice(5).join(' ');
  if (path === '[heap]') return 'glibcHeap';
  if (path.startsWith('[stack')) return 'stack';
  if (path.startsWith('/')) return 'file';
  return 'anonymous';
}

/** RSS by kind of mapping, bytes, from /proc/PID/smaps. */
export function rssParts(pid: number | 'self' = 'self'): RssParts {
  const parts = { file: 0, glibcHeap: 0, stack: 0, anonymous: 0, total: 0 };
  let kind: RssKind = 'anonymous';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (MAPPING_HEADER.test(line)) kind = mappingKind(line);
    else if (line.startsWith('Rss:')) {
      const bytes = Number.parseInt(line.slice(4), 10) * 1024;
      parts[kind] += bytes;
      parts.total += bytes;
    }
  }
  return parts;
}

/** One moment of this process's memory: smaps, V8's spaces and Node's own counters. */
export interface MemorySample {
  readonly rss: RssParts;
  /** Physical (resident) bytes per V8 space. */
  readonly spaces: ReadonlyMap<string, number>;
  readonly heapUsed: number;
  /** Backing stores of ArrayBuffers and Buffers (malloc'd outside V8's heap). */
  readonly arrayBuffers: number;
}

export function sampleMemory(): MemorySample {
  const spaces = new Map(getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]));
  const usage = process.memoryUsage();
  return { rss: rssParts(), spaces, heapUsed: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

const space = (s: MemorySample, ...names: string[]) =>
  names.reduce((n, name) => n + (s.spaces.get(name) ?? 0), 0);
const v8Total = (s: MemorySample) => [...s.spaces.values()].reduce((a, b) => a + b, 0);

/** The census's rows: each part of RSS as a function of a sample. */
export const RSS_ROWS: readonly { readonly part: string; readonly of: (s: MemorySample) => number }[] = [
  {
    part: 'V8 young generation (new + new large object space)',
    of: (s) => space(s, 'new_space', 'new_large_object_space'),
  },
  { part: 'V8 old space', of: (s) => space(s, 'old_space') },
  { part: 'V8 large object space', of: (s) => space(s, 'large_object_space') },
  {
    part: 'V8 code (code + code large object space)',
    of: (s) => space(s, 'code_space', 'code_large_object_space'),
  },
  {
    part: 'V8 other spaces (read-only, map, shared)',
    of: (s) =>
      v8Total(s) -
      space(
        s,
        'new_space',
        'new_large_object_space',
        'old_space',
        'large_object_space',
        'code_space',
        'code_large_object_space',
      ),
  },
  { part: 'glibc main arena ([heap])', of: (s) => s.rss.glibcHeap },
  {
    part: 'other anonymous (thread arenas, mmapped buffers)',
    of: (s) => Math.max(0, s.rss.anonymous - v8Total(s)),
  },
  { part: 'code and libraries (file-backed)', of: (s) => s.rss.file },
  { part: 'stacks', of: (s) => s.rss.stack },
  { part: '= RSS', of: (s) => s.rss.total },
  { part: '  of which V8 heap used', of: (s) => s.heapUsed },
  { part: '  of which ArrayBuffer backing stores', of: (s) => s.arrayBuffers },
];

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

export type KindCensus = Map<string, { count: number; bytes: number }>;

/**
 * Self size and count per kind: the constructor's name for objects and closures, `(type) name` for
 * V8's internal arrays (a Map's hash table is one), `(type)` for strings, numbers and code. Taking a
 * snapshot grows the heap and RSS for a while: take it after the RSS samples.
 */
export async function heapByKind(): Promise<KindCensus> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const heap = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Snapshot;
  chunks.length = 0;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const kinds: KindCensus = new Map();
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const t = types[heap.nodes[i + type]];
    const kind = nodeKind(t, heap.strings[heap.nodes[i + name]]);
    const entry = kinds.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += heap.nodes[i + size];
    kinds.set(kind, entry);
  }
  return kinds;
}

function nodeKind(type: string, name: string): string {
  if (type === 'object' || type === 'closure') return name;
  if (type === 'array' || type === 'hidden' || type === 'object shape')
    return `(${type}) ${name.slice(0, 40)}`;
  return `(${type})`;
}

/** Growth per kind from `before` to `after`, largest first. */
export function kindGrowth(
  before: KindCensus,
  after: KindCensus,
): { kind: string; count: number; bytes: number }[] {
  return [...after]
    .map(([kind, a]) => {
      const b = before.get(kind) ?? { count: 0, bytes: 0 };
      return { kind, count: a.count - b.count, bytes: a.bytes - b.bytes };
    })
    .sort((x, y) => y.bytes - x.bytes);
}

// The bytes the LMDB backend keeps, and their checks. Three sub-databases share one environment:
//   meta  "format" → layout version · "revision" → last revision handed out · "compacted" → the highest
//         revision already dropped from the log (the log holds compacted+1 … revision)
//   kv    user key → {"value", "createRevision", "modRevision"}
//   log   revision (a number key, so it sorts numerically) → {"type", "key", "value"?, "at"}
// Everything is JSON text (the 'string' encoding) so mdb_dump shows it as is and a process never
// depends on msgpack structure records shared between processes. A record that does not decode is a
// StoreError 'corrupt' naming its key, never a crash.

import type { KeyValue, WatchEvent } from './store.ts';
import { StoreError } from './store.ts';

/** Bump when the layout above changes; open() refuses a store written with another version. */
export const FORMAT_VERSION = 1;

export const META_FORMAT = 'format';
export const META_REVISION = 'revision';
export const META_COMPACTED = 'compacted';

/** One change to one key. */
export type Change =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'delete'; readonly key: string };

/** A change as the log keeps it; the revision is the log key. */
export type LogEntry = Change & {
  /** Wall-clock ms when it was written, for age-based compaction (wall clock: it must survive restarts). */
  readonly at: number;
};

export function encodeRecord(entry: Omit<KeyValue, 'key'>): string {
  return JSON.stringify({
    value: entry.value,
    createRevision: entry.createRevision,
    modRevision: entry.modRevision,
  });
}

export function decodeRecord(key: string, raw: string): KeyValue {
  const parsed = parseObject(raw);
  const { value, createRevision, modRevision } = parsed ?? {};
  if (typeof value !== 'string' || !isRevision(createRevision) || !isRevision(modRevision)) {
    throw new StoreError('corrupt', key, 'stored record does not decode');
  }
  return { key, value, createRevision, modRevision };
}

export function encodeLogEntry(entry: LogEntry): string {
  return JSON.stringify(entry);
}

export function decodeLogEntry(revision: number, raw: string): LogEntry {
  const parsed = parseObject(raw);
  const { type, key, value, at } = parsed ?? {};
  if (typeof key === 'string' && typeof at === 'number') {
    if (type === 'put' && typeof value === 'string') return { type, key, value, at };
    if (type === 'delete') return { type, key, at };
  }
  throw new StoreError('corrupt', undefined, `change log entry ${revision} does not decode`);
}

/** The entry's write time, or undefined when it does not decode (compaction must never throw). */
export function logEntryTime(raw: string): number | undefined {
  const at = parseObject(raw)?.at;
  return typeof at === 'number' ? at : undefined;
}

export function toWatchEvent(revision: number, entry: LogEntry): WatchEvent {
  return entry.type === 'put'
    ? { type: 'put', key: entry.key, value: entry.value, modRevision: revision }
    : { type: 'delete', key: entry.key, modRevision: revision };
}

/** A meta counter: absent means 0 (a new store). */
export function decodeCounter(name: string, raw: string | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StoreError('corrupt', undefined, `meta ${name} is "${raw}"`);
  return n;
}

function isRevision(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

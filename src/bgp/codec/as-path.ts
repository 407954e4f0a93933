// AS_PATH and AS4_PATH (RFC 4271 §4.3 b, RFC 5065 §3 confederation segments, RFC 6793): segment
// decoding with 2- or 4-octet AS numbers, encoding both ways (with AS_TRANS for a 2-octet peer), and the
// RFC 6793 §4.2.3 reconstruction of the 4-octet path from AS_PATH + AS4_PATH (and AGGREGATOR +
// AS4_AGGREGATOR) received from a 2-octet speaker. What to do with a malformed path (RFC 7606 §7.2,
// RFC 6793 §6) is decided by attributes.ts; this file only says why the bytes are malformed.

import { AS_TRANS, AsPathSegmentType } from '../constants.ts';
import type { Aggregator, AsPathSegment } from '../types.ts';
import type { ByteWriter } from '../../lib/byte-writer.ts';

/** The Path Segment Length field is one octet: at most 255 AS numbers per segment (RFC 4271 §4.3 b). */
export const MAX_SEGMENT_ASNS = 255;

/** The largest AS number that fits the 2-octet encoding ("mappable", RFC 6793 §2). */
const MAX_TWO_OCTET_ASN = 0xffff;

export type AsnSize = 2 | 4;

function isConfed(type: number): boolean {
  return type === AsPathSegmentType.AsConfedSequence || type === AsPathSegmentType.AsConfedSet;
}

/**
 * Decodes the AS_PATH (or AS4_PATH) value bytes[start, end) into segments with `asnSize`-octet AS
 * numbers. Returns the segments, or why the path is malformed in the words of RFC 7606 §7.2 (unknown
 * segment type, zero-length segment, overrun, underrun) and RFC 7607 §2 (AS 0). An empty value is a
 * valid empty path (RFC 4271 §5.1.2: a route originated into iBGP carries one).
 */
export function decodeAsPath(
  bytes: Uint8Array,
  start: number,
  end: number,
  asnSize: AsnSize,
): AsPathSegment[] | string {
  const segments: AsPathSegment[] = [];
  let pos = start;
  while (pos < end) {
    // RFC 7606 §7.2 "underrun": a single octet left cannot hold even an empty segment header.
    if (pos + 2 > end) return `underrun: 1 octet after the last segment`;
    const type = bytes[pos];
    const count = bytes[pos + 1];
    if (type < AsPathSegmentType.AsSet || type > AsPathSegmentType.AsConfedSet) {
      return `unrecognized segment type ${type}`;
    }
    if (count === 0) return `segment of length zero`;
    pos += 2;
    const segmentEnd = pos + count * asnSize;
    if (segmentEnd > end) return `overrun: segment of ${count} AS numbers exceeds the attribute length`;
    const asns = new Array<number>(count);
    for (let i = 0; i < count; i++, pos += asnSize) {
      const asn =
        asnSize === 4
          ? ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0
          : (bytes[pos] << 8) | bytes[pos + 1];
      // RFC 7607 §2: an AS_PATH (or AS4_PATH) carrying AS 0 is malformed.
      if (asn === 0) return `AS number 0 in segment ${segments.length + 1}`;
      asns[i] = asn;
    }
    segments.push({ type: type as AsPathSegmentType, asns });
  }
  return segments;
}

/** Octets the encoded path takes, with segments longer than 255 AS numbers split. */
export function asPathValueLength(segments: readonly AsPathSegment[], asnSize: AsnSize): number {
  let length = 0;
  for (const segment of segments) {
    const count = segment.asns.length;
    if (count === 0) continue;
    length += Math.ceil(count / MAX_SEGMENT_ASNS) * 2 + count * asnSize;
  }
  return length;
}

/**
 * Writes the path value. With 2-octet AS numbers every AS that does not fit is replaced by AS_TRANS
 * (RFC 6793 §4.2.2). A segment longer than 255 AS numbers is written as consecutive segments of the same
 * type: exact for AS_SEQUENCE; an AS_SET of more than 255 members has no exact encoding, and splitting
 * it makes its path length count 2 instead of 1 (RFC 4271 §9.1.2.2 a) — the lesser harm. Empty segments
 * are left out: RFC 7606 §7.2 calls a zero-length segment malformed.
 */
export function writeAsPathValue(w: ByteWriter, segments: readonly AsPathSegment[], asnSize: AsnSize): void {
  for (const segment of segments) {
    const asns = segment.asns;
    for (let from = 0; from < asns.length; from += MAX_SEGMENT_ASNS) {
      const to = Math.min(asns.length, from + MAX_SEGMENT_ASNS);
      w.u8(segment.type).u8(to - from);
      for (let i = from; i < to; i++) {
        const asn = asns[i];
        if (asnSize === 4) w.u32(asn);
        else w.u16(asn > MAX_TWO_OCTET_ASN ? AS_TRANS : asn);
      }
    }
  }
}

/**
 * The number of AS numbers in a path as RFC 4271 §9.1.2.2 (a) counts it for path length: an AS_SET
 * counts 1 whatever its size, and confederation segments count 0 (RFC 5065 §5.3). RFC 6793 §4.2.3 uses
 * the same count to line up AS_PATH with AS4_PATH.
 */
export function asPathLength(segments: readonly AsPathSegment[]): number {
  let length = 0;
  for (const segment of segments) {
    if (segment.type === AsPathSegmentType.AsSequence) length += segment.asns.length;
    else if (segment.type === AsPathSegmentType.AsSet) length += 1;
  }
  return length;
}

export function hasConfedSegment(segments: readonly AsPathSegment[]): boolean {
  return segments.some((segment) => isConfed(segment.type));
}

/** The path without its AS_CONFED_SEQUENCE / AS_CONFED_SET segments (RFC 6793 §4.2.2 and §6). */
export function withoutConfedSegments(segments: readonly AsPathSegment[]): AsPathSegment[] {
  return segments.filter((segment) => !isConfed(segment.type));
}

/**
 * The AS4_PATH to send with a path to a 2-octet peer, or undefined when none is to be sent. RFC 6793
 * §4.2.2: it is sent unless every AS number in the path is mappable ("MUST NOT send" then), and it never
 * carries confederation segments. A path whose only non-mappable AS numbers sit in confederation segments
 * would give an empty AS4_PATH, which §6 calls malformed (shorter than 6 octets): none is sent then.
 */
export function as4PathToSend(segments: readonly AsPathSegment[]): AsPathSegment[] | undefined {
  let nonMappable = false;
  for (const segment of segments) {
    for (const asn of segment.asns) if (asn > MAX_TWO_OCTET_ASN) nonMappable = true;
  }
  if (!nonMappable) return undefined;
  const as4Path = withoutConfedSegments(segments).filter((segment) => segment.asns.length > 0);
  return as4Path.length > 0 ? as4Path : undefined;
}

/**
 * RFC 6793 §4.2.3: the AS path of a route received from a 2-octet speaker, rebuilt from its AS_PATH and
 * AS4_PATH (the latter already stripped of confederation segments, §6).
 * - AS_PATH counts fewer AS numbers than AS4_PATH: AS4_PATH is ignored, AS_PATH is the path.
 * - Otherwise: as many AS numbers (and whole segments) as needed are taken from the front of AS_PATH
 *   and prepended to AS4_PATH, so the result counts as many AS numbers as AS_PATH. A confederation
 *   segment is prepended when it leads AS_PATH or follows a prepended segment.
 * A prepended AS_SEQUENCE that meets a leading AS4_PATH AS_SEQUENCE is joined with it: the speakers that
 * added their AS to the 2-octet AS_PATH did so by extending that very sequence.
 */
export function reconstructAsPath(
  asPath: readonly AsPathSegment[],
  as4Path: readonly AsPathSegment[],
): readonly AsPathSegment[] {
  let needed = asPathLength(asPath) - asPathLength(as4Path);
  if (needed < 0) return asPath;
  const result: AsPathSegment[] = [];
  for (const segment of asPath) {
    // Every segment taken so far is prepended, so a confederation segment reached here either leads
    // AS_PATH or follows a prepended segment.
    if (isConfed(segment.type)) {
      result.push(segment);
      continue;
    }
    if (needed === 0) break;
    if (segment.type === AsPathSegmentType.AsSet) {
      result.push(segment);
      needed -= 1;
      continue;
    }
    const take = Math.min(needed, segment.asns.length);
    needed -= take;
    if (take === segment.asns.length) {
      result.push(segment);
      continue;
    }
    // The rest of this sequence is what AS4_PATH stands for: nothing after it is prepended.
    result.push({ type: segment.type, asns: segment.asns.slice(0, take) });
    break;
  }
  return joinAt(result, as4Path);
}

/** head ++ tail, joining an AS_SEQUENCE that ends `head` with one that starts `tail`. */
function joinAt(head: AsPathSegment[], tail: readonly AsPathSegment[]): AsPathSegment[] {
  const last = head[head.length - 1];
  const first = tail[0];
  if (
    last !== undefined &&
    first !== undefined &&
    last.type === AsPathSegmentType.AsSequence &&
    first.type === AsPathSegmentType.AsSequence
  ) {
    head[head.length - 1] = { type: AsPathSegmentType.AsSequence, asns: [...last.asns, ...first.asns] };
    for (let i = 1; i < tail.length; i++) head.push(tail[i]);
    return head;
  }
  for (const segment of tail) head.push(segment);
  return head;
}

export interface As4Attributes {
  readonly asPath?: readonly AsPathSegment[];
  readonly aggregator?: Aggregator;
  /** Decoded and well formed, confederation segments already removed (RFC 6793 §6). */
  readonly as4Path?: readonly AsPathSegment[];
  readonly as4Aggregator?: Aggregator;
}

/**
 * RFC 6793 §4.2.3 for an UPDATE from a 2-octet speaker: the effective AS path and aggregator.
 * - AGGREGATOR and AS4_AGGREGATOR both present and AGGREGATOR's AS is not AS_TRANS: AS4_AGGREGATOR
 *   and AS4_PATH are ignored; AGGREGATOR and AS_PATH stand.
 * - AGGREGATOR carries AS_TRANS and AS4_AGGREGATOR is present: AS4_AGGREGATOR is the aggregator.
 * - AS4_AGGREGATOR without AGGREGATOR has nothing to stand in for and is ignored.
 * - AS4_PATH is merged into AS_PATH (reconstructAsPath) unless ignored above or AS_PATH is absent.
 */
export function applyAs4Attributes(input: As4Attributes): {
  asPath?: readonly AsPathSegment[];
  aggregator?: Aggregator;
} {
  const { asPath, aggregator, as4Path, as4Aggregator } = input;
  if (aggregator !== undefined && as4Aggregator !== undefined && aggregator.asn !== AS_TRANS) {
    return { asPath, aggregator };
  }
  const effectiveAggregator =
    aggregator !== undefined && as4Aggregator !== undefined ? as4Aggregator : aggregator;
  const effectivePath =
    asPath !== undefined && as4Path !== undefined ? reconstructAsPath(asPath, as4Path) : asPath;
  return { asPath: effectivePath, aggregator: effectiveAggregator };
}

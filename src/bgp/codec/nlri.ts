// Prefix lists on the wire: the Withdrawn Routes and NLRI fields (RFC 4271 §4.3) and the prefixes in
// MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760 §5), each optionally preceded by an RFC 7911 §3 Path
// Identifier. This is the hottest loop of the codec: no text, no per-prefix buffers, one object each.

import { Afi } from '../../lib/family.ts';
import type { Nlri } from '../../lib/prefix.ts';

/**
 * Reads `count` (0..4) octets at `pos` as the top octets of a 32-bit word, masked to `bits` (0..32)
 * so trailing bits beyond the prefix length, which RFC 4271 §4.3 calls irrelevant, are cleared.
 */
function readWord(bytes: Uint8Array, pos: number, count: number, bits: number): number {
  if (count <= 0 || bits <= 0) return 0;
  let word = bytes[pos] << 24;
  if (count > 1) word |= bytes[pos + 1] << 16;
  if (count > 2) word |= bytes[pos + 2] << 8;
  if (count > 3) word |= bytes[pos + 3];
  return bits >= 32 ? word >>> 0 : (word & (0xffffffff << (32 - bits))) >>> 0;
}

/**
 * Decodes the prefixes in bytes[start, end) and appends them to `out`. Returns undefined on success, or
 * the reason the field is malformed (the caller picks the RFC 7606 action: the field cannot be parsed
 * further, so it is never treat-as-withdraw).
 */
export function decodePrefixes(
  bytes: Uint8Array,
  start: number,
  end: number,
  afi: Afi,
  addPath: boolean,
  out: Nlri[],
): string | undefined {
  const maxLength = afi === Afi.Ipv4 ? 32 : 128;
  let pos = start;
  while (pos < end) {
    let pathId = 0;
    if (addPath) {
      if (pos + 5 > end) return `truncated path identifier at octet ${pos - start}`;
      pathId = ((bytes[pos] << 24) | (bytes[pos + 1] << 16) | (bytes[pos + 2] << 8) | bytes[pos + 3]) >>> 0;
      pos += 4;
    }
    const length = bytes[pos++];
    if (length > maxLength) return `prefix length ${length} exceeds ${maxLength}`;
    const octets = (length + 7) >> 3;
    if (pos + octets > end) return `prefix of length ${length} overruns the field`;
    out.push({
      afi,
      length,
      w0: readWord(bytes, pos, octets, length),
      w1: readWord(bytes, pos + 4, octets - 4, length - 32),
      w2: readWord(bytes, pos + 8, octets - 8, length - 64),
      w3: readWord(bytes, pos + 12, octets - 12, length - 96),
      pathId,
    });
    pos += octets;
  }
  return undefined;
}

/** Octets a prefix takes on the wire. */
export function prefixWireLength(prefix: Nlri, addPath: boolean): number {
  return (addPath ? 5 : 1) + ((prefix.length + 7) >> 3);
}

function writeWord(out: Buffer, pos: number, word: number, count: number): number {
  if (count <= 0) return pos;
  out[pos++] = word >>> 24;
  if (count > 1) out[pos++] = (word >>> 16) & 0xff;
  if (count > 2) out[pos++] = (word >>> 8) & 0xff;
  if (count > 3) out[pos++] = word & 0xff;
  return pos;
}

/** Writes one prefix at `pos` (the caller has checked it fits) and returns the position after it. */
export function writePrefix(out: Buffer, pos: number, prefix: Nlri, addPath: boolean): number {
  if (addPath) {
    out.writeUInt32BE(prefix.pathId >>> 0, pos);
    pos += 4;
  }
  const length = prefix.length;
  out[pos++] = length;
  const octets = (length + 7) >> 3;
  pos = writeWord(out, pos, prefix.w0, octets);
  if (octets > 4) {
    pos = writeWord(out, pos, prefix.w1, octets - 4);
    pos = writeWord(out, pos, prefix.w2, octets - 8);
    pos = writeWord(out, pos, prefix.w3, octets - 12);
  }
  return pos;
}

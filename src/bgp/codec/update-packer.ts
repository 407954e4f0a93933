// Packs prefixes that share one attribute set into as few UPDATEs as the negotiated maximum message
// size allows (RFC 4271 §9.2, RFC 8654), and withdrawals likewise. The attribute set arrives already
// encoded (it is encoded once per set and peer group, not once per message), and the messages are
// written back to back into one buffer, so a whole batch leaves in one socket write.
//
// A packer is meant to be kept: its buffer is scratch that outlives take(), which copies the batch
// out at its exact length. Made afresh for every batch, a reflector's turn of about 140 KiB (S3 of
// the reflector benchmark) allocated 64, 128 and 256 KiB of scratch before its copy, each freed only
// once V8 collected its Buffer.

import { AttrFlag, AttrType, HEADER_LENGTH, MessageType } from '../constants.ts';
import type { CodecContext, PathAttributes } from '../types.ts';
import { Afi, familyKey, Safi } from '../../lib/family.ts';
import type { Nlri } from '../../lib/prefix.ts';
import { ByteWriter } from '../../lib/byte-writer.ts';
import { encodePathAttributes, mpNextHopBytes } from './attributes.ts';
import { prefixWireLength, writePrefix } from './nlri.ts';
import { writeHeader } from './header.ts';

/** What an announcement batch shares: its family, its encoded attributes and (MP only) its next hop. */
export interface EncodedAttributeSet {
  readonly afi: number;
  readonly safi: number;
  /** Every path attribute except MP_REACH_NLRI, encoded for the receiving session. */
  readonly attributes: Uint8Array;
  /** The MP_REACH_NLRI next-hop field (absent for IPv4 unicast, which uses NEXT_HOP). */
  readonly mpNextHop?: Uint8Array;
}

/** Encodes an attribute set once for a session context; the result is reused for every UPDATE. */
export function encodeAttributeSet(
  afi: number,
  safi: number,
  attributes: PathAttributes,
  ctx: CodecContext,
  mpNextHop?: { nextHop: string; linkLocalNextHop?: string },
): EncodedAttributeSet {
  const w = new ByteWriter(512);
  const isIpv4Unicast = afi === Afi.Ipv4 && safi === Safi.Unicast;
  // RFC 4760 §3: with MP_REACH_NLRI the NEXT_HOP attribute is not sent.
  encodePathAttributes(w, isIpv4Unicast ? attributes : { ...attributes, nextHop: undefined }, ctx);
  const nextHop =
    isIpv4Unicast || !mpNextHop
      ? undefined
      : mpNextHopBytes(afi, mpNextHop.nextHop, mpNextHop.linkLocalNextHop);
  return { afi, safi, attributes: w.toBuffer(), mpNextHop: nextHop };
}

/** MP attribute header: flags (Optional, Extended Length), type, 2-octet length. */
const MP_ATTRIBUTE_HEADER = 4;

/** The scratch a packer keeps between batches; one that grew past it for a large batch is let go. */
const RETAINED_SCRATCH = 1 << 20;

export class UpdatePacker {
  private ctx: CodecContext;
  private out: Buffer;
  private pos = 0;
  /** UPDATE messages written since the last take(). */
  messageCount = 0;

  constructor(
    ctx: CodecContext,
    private readonly initialSize = 1 << 16,
  ) {
    this.ctx = ctx;
    this.out = Buffer.allocUnsafe(initialSize);
  }

  /**
   * Starts a batch for a session context (its maximum message length, its ADD-PATH families). What a
   * batch that threw left behind is dropped: nothing of it was taken, so nothing of it was sent.
   */
  begin(ctx: CodecContext): void {
    this.ctx = ctx;
    this.pos = 0;
    this.messageCount = 0;
  }

  /** Everything packed so far, as one buffer of back-to-back messages; the packer starts afresh. */
  take(): Buffer {
    const result = Buffer.from(this.out.subarray(0, this.pos));
    this.pos = 0;
    this.messageCount = 0;
    if (this.out.length > RETAINED_SCRATCH) this.out = Buffer.allocUnsafe(this.initialSize);
    return result;
  }

  get pendingBytes(): number {
    return this.pos;
  }

  /** Announces prefixes[from, to) with one attribute set, in as many UPDATEs as needed. */
  announce(set: EncodedAttributeSet, prefixes: readonly Nlri[], from = 0, to = prefixes.length): void {
    const addPath = this.ctx.addPath.has(familyKey(set.afi, set.safi));
    let i = from;
    while (i < to) {
      const start = this.beginMessage();
      i = set.mpNextHop
        ? this.writeMpReach(set, prefixes, i, to, addPath)
        : this.writeIpv4Reach(set, prefixes, i, to, addPath);
      this.endMessage(start);
    }
  }

  /** Withdraws prefixes[from, to) of one family, in as many UPDATEs as needed. */
  withdraw(afi: number, safi: number, prefixes: readonly Nlri[], from = 0, to = prefixes.length): void {
    const addPath = this.ctx.addPath.has(familyKey(afi, safi));
    const ipv4 = afi === Afi.Ipv4 && safi === Safi.Unicast;
    let i = from;
    while (i < to) {
      const start = this.beginMessage();
      i = ipv4
        ? this.writeIpv4Unreach(prefixes, i, to, addPath)
        : this.writeMpUnreach(afi, safi, prefixes, i, to, addPath);
      this.endMessage(start);
    }
  }

  private beginMessage(): number {
    const max = this.ctx.maxMessageLength;
    if (this.pos + max > this.out.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.pos + max));
      this.out.copy(grown, 0, 0, this.pos);
      this.out = grown;
    }
    const start = this.pos;
    this.pos += HEADER_LENGTH;
    return start;
  }

  private endMessage(start: number): void {
    writeHeader(this.out, start, this.pos - start, MessageType.Update);
    this.messageCount++;
  }

  /** Writes prefixes while they fit below `limit`; returns the index of the first one left over. */
  private writePrefixes(
    prefixes: readonly Nlri[],
    i: number,
    to: number,
    addPath: boolean,
    limit: number,
  ): number {
    const out = this.out;
    let pos = this.pos;
    for (; i < to; i++) {
      const p = prefixes[i];
      if (pos + prefixWireLength(p, addPath) > limit) break;
      pos = writePrefix(out, pos, p, addPath);
    }
    if (i === to || pos > this.pos) {
      this.pos = pos;
      return i;
    }
    throw new RangeError('attribute set leaves no room for a single prefix in one UPDATE');
  }

  private writeIpv4Reach(
    set: EncodedAttributeSet,
    prefixes: readonly Nlri[],
    i: number,
    to: number,
    addPath: boolean,
  ): number {
    const limit = this.pos - HEADER_LENGTH + this.ctx.maxMessageLength;
    const out = this.out;
    out.writeUInt16BE(0, this.pos); // no withdrawn routes
    out.writeUInt16BE(set.attributes.length, this.pos + 2);
    out.set(set.attributes, this.pos + 4);
    this.pos += 4 + set.attributes.length;
    return this.writePrefixes(prefixes, i, to, addPath, limit);
  }

  private writeMpReach(
    set: EncodedAttributeSet,
    prefixes: readonly Nlri[],
    i: number,
    to: number,
    addPath: boolean,
  ): number {
    const limit = this.pos - HEADER_LENGTH + this.ctx.maxMessageLength - set.attributes.length;
    const out = this.out;
    const nextHop = set.mpNextHop as Uint8Array;
    const attributesLengthAt = this.pos + 2;
    out.writeUInt16BE(0, this.pos);
    // RFC 7606 §5.1: MP_REACH_NLRI first; RFC 4760 §3 layout: AFI, SAFI, next hop length, next hop, reserved.
    const mpAt = this.pos + 4;
    out[mpAt] = AttrFlag.Optional | AttrFlag.ExtendedLength;
    out[mpAt + 1] = AttrType.MpReachNlri;
    out.writeUInt16BE(set.afi, mpAt + 4);
    out[mpAt + 6] = set.safi;
    out[mpAt + 7] = nextHop.length;
    out.set(nextHop, mpAt + 8);
    out[mpAt + 8 + nextHop.length] = 0;
    this.pos = mpAt + 9 + nextHop.length;
    const next = this.writePrefixes(prefixes, i, to, addPath, limit);
    out.writeUInt16BE(this.pos - mpAt - MP_ATTRIBUTE_HEADER, mpAt + 2);
    out.set(set.attributes, this.pos);
    this.pos += set.attributes.length;
    out.writeUInt16BE(this.pos - attributesLengthAt - 2, attributesLengthAt);
    return next;
  }

  private writeIpv4Unreach(prefixes: readonly Nlri[], i: number, to: number, addPath: boolean): number {
    const limit = this.pos - HEADER_LENGTH + this.ctx.maxMessageLength - 2;
    const lengthAt = this.pos;
    this.pos += 2;
    const next = this.writePrefixes(prefixes, i, to, addPath, limit);
    this.out.writeUInt16BE(this.pos - lengthAt - 2, lengthAt);
    this.out.writeUInt16BE(0, this.pos); // no path attributes
    this.pos += 2;
    return next;
  }

  private writeMpUnreach(
    afi: number,
    safi: number,
    prefixes: readonly Nlri[],
    i: number,
    to: number,
    addPath: boolean,
  ): number {
    const limit = this.pos - HEADER_LENGTH + this.ctx.maxMessageLength;
    const out = this.out;
    out.writeUInt16BE(0, this.pos);
    const attributesLengthAt = this.pos + 2;
    const mpAt = this.pos + 4;
    out[mpAt] = AttrFlag.Optional | AttrFlag.ExtendedLength;
    out[mpAt + 1] = AttrType.MpUnreachNlri;
    out.writeUInt16BE(afi, mpAt + 4);
    out[mpAt + 6] = safi;
    this.pos = mpAt + 7;
    const next = this.writePrefixes(prefixes, i, to, addPath, limit);
    out.writeUInt16BE(this.pos - mpAt - MP_ATTRIBUTE_HEADER, mpAt + 2);
    out.writeUInt16BE(this.pos - attributesLengthAt - 2, attributesLengthAt);
    return next;
  }
}

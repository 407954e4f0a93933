// ROUTE-REFRESH (RFC 2918 §3) with the RFC 7313 §3.2 Message Subtype: AFI(2) Subtype(1) SAFI(1).
// A subtype other than 0..2 is decoded, not refused: RFC 7313 §5 says the message is ignored, and
// ignoring is the session's decision.

import { HEADER_LENGTH, MessageType, RouteRefreshSubtype } from '../constants.ts';
import type { RouteRefreshMessage } from '../types.ts';
import { routeRefreshLengthError, writeHeader } from './header.ts';

/** RFC 2918 §3: the header and four octets, nothing else. */
export const ROUTE_REFRESH_LENGTH = HEADER_LENGTH + 4;

/** What encodeRouteRefresh() needs; the subtype defaults to a normal request. */
export interface RouteRefreshFields {
  readonly afi: number;
  readonly safi: number;
  readonly subtype?: number;
}

/** 0 request, 1 BoRR, 2 EoRR; anything else must be ignored (RFC 7313 §5). */
export function isKnownRouteRefreshSubtype(subtype: number): subtype is RouteRefreshSubtype {
  return (
    subtype === RouteRefreshSubtype.Normal ||
    subtype === RouteRefreshSubtype.BoRR ||
    subtype === RouteRefreshSubtype.EoRR
  );
}

/**
 * Decodes a whole ROUTE-REFRESH (header included). The framer and decodeMessage() already refuse a
 * wrong length; this checks again so no caller can read past the message (RFC 7313 §5: 7/1 with the
 * whole message as data).
 */
export function decodeRouteRefresh(message: Uint8Array): RouteRefreshMessage {
  if (message.length !== ROUTE_REFRESH_LENGTH) throw routeRefreshLengthError(message);
  const at = HEADER_LENGTH;
  return {
    type: MessageType.RouteRefresh,
    afi: (message[at] << 8) | message[at + 1],
    subtype: message[at + 2],
    safi: message[at + 3],
  };
}

export function encodeRouteRefresh(r: RouteRefreshFields): Buffer {
  const out = Buffer.allocUnsafe(ROUTE_REFRESH_LENGTH);
  writeHeader(out, 0, ROUTE_REFRESH_LENGTH, MessageType.RouteRefresh);
  out.writeUInt16BE(r.afi, HEADER_LENGTH);
  out[HEADER_LENGTH + 2] = r.subtype ?? RouteRefreshSubtype.Normal;
  out[HEADER_LENGTH + 3] = r.safi;
  return out;
}

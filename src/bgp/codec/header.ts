// The 19-octet message header (RFC 4271 §4.1) and its checks (§6.1), shared by the stream framer and
// by decodeMessage() for messages that arrive already framed.

import {
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MARKER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  RouteRefreshSubcode,
} from '../constants.ts';
import { BgpError } from '../errors.ts';

/** §4.1: all-ones marker. */
export const MARKER = Buffer.alloc(MARKER_LENGTH, 0xff);

/** Smallest legal length per message type (§4.2, §4.3, §4.4, §4.5, RFC 2918 §3). */
const MIN_LENGTH: Record<number, number> = {
  [MessageType.Open]: 29,
  [MessageType.Update]: 23,
  [MessageType.Notification]: 21,
  [MessageType.Keepalive]: 19,
  [MessageType.RouteRefresh]: 23,
};

/**
 * Checks the header at `offset` and returns the message length, or the error §6.1 prescribes.
 * `maxLength` is 4096, or 65535 after RFC 8654 (which never applies to OPEN and KEEPALIVE, §3 there).
 */
export function checkHeader(bytes: Uint8Array, offset: number, maxLength: number): number | BgpError {
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (bytes[offset + i] !== 0xff) {
      return new BgpError(
        ErrorCode.MessageHeader,
        HeaderSubcode.ConnectionNotSynchronized,
        'marker is not all ones',
      );
    }
  }
  const length = (bytes[offset + 16] << 8) | bytes[offset + 17];
  const type = bytes[offset + 18];
  const minLength = MIN_LENGTH[type];
  if (minLength === undefined) {
    return new BgpError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadMessageType,
      `unknown message type ${type}`,
      Uint8Array.of(type),
    );
  }
  const limit = type === MessageType.Open || type === MessageType.Keepalive ? MAX_MESSAGE_LENGTH : maxLength;
  const tooShort = type === MessageType.Keepalive ? length !== HEADER_LENGTH : length < minLength;
  if (type === MessageType.RouteRefresh && length !== 23 && length >= HEADER_LENGTH && length <= limit) {
    // RFC 7313 §5: a ROUTE-REFRESH of the wrong length has its own error, with the whole message as
    // data. The framer has to wait for the whole message, so it reports this from decodeMessage().
    return length;
  }
  if (length < HEADER_LENGTH || length > limit || tooShort) {
    return new BgpError(
      ErrorCode.MessageHeader,
      HeaderSubcode.BadMessageLength,
      `length ${length} for message type ${type}`,
      Uint8Array.of(length >> 8, length & 0xff),
    );
  }
  return length;
}

/** RFC 7313 §5 */
export function routeRefreshLengthError(message: Uint8Array): BgpError {
  return new BgpError(
    ErrorCode.RouteRefreshMessage,
    RouteRefreshSubcode.InvalidMessageLength,
    `ROUTE-REFRESH of ${message.length} octets`,
    message,
  );
}

/** Writes a header for a message of `length` octets into `out` at `offset`. */
export function writeHeader(out: Buffer, offset: number, length: number, type: MessageType): void {
  out.fill(0xff, offset, offset + MARKER_LENGTH);
  out.writeUInt16BE(length, offset + 16);
  out[offset + 18] = type;
}

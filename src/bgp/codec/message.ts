// The codec's entry point: a whole framed message in, a BgpMessage or the NOTIFICATION to send out.
// It never throws: session-fatal errors come back as values, and an unexpected exception (a codec bug
// meeting hostile input) is turned into a session reset flagged `internal`, so the peer is dropped and
// the process lives on.

import { ErrorCode, HEADER_LENGTH, MessageType } from '../constants.ts';
import { BgpError } from '../errors.ts';
import type { Decoded } from '../errors.ts';
import type { BgpMessage, CodecContext, KeepaliveMessage } from '../types.ts';
import { checkHeader, routeRefreshLengthError, writeHeader } from './header.ts';
import { decodeOpen } from './open.ts';
import { decodeUpdate } from './update.ts';
import { decodeNotification } from './notification.ts';
import { decodeRouteRefresh } from './route-refresh.ts';

/** A BgpError raised for an exception the codec did not expect. */
export class InternalCodecError extends BgpError {
  readonly internal = true;
}

const KEEPALIVE: KeepaliveMessage = Object.freeze({ type: MessageType.Keepalive });

function decodeBody(frame: Uint8Array, ctx: CodecContext): BgpMessage {
  const type = frame[18];
  switch (type) {
    case MessageType.Open:
      return decodeOpen(frame);
    case MessageType.Update:
      return decodeUpdate(frame, ctx);
    case MessageType.Notification:
      return decodeNotification(frame);
    case MessageType.Keepalive:
      return KEEPALIVE;
    case MessageType.RouteRefresh:
      if (frame.length !== 23) throw routeRefreshLengthError(frame);
      return decodeRouteRefresh(frame);
    default:
      throw new BgpError(ErrorCode.MessageHeader, 3, `unknown message type ${type}`, Uint8Array.of(type));
  }
}

/** Error code to answer an unexpected failure with, by message type (RFC 4271 §6). */
function internalErrorCode(type: number): number {
  if (type === MessageType.Open) return ErrorCode.OpenMessage;
  if (type === MessageType.Update) return ErrorCode.UpdateMessage;
  if (type === MessageType.RouteRefresh) return ErrorCode.RouteRefreshMessage;
  return ErrorCode.MessageHeader;
}

/** Decodes one whole message (header included). The header is checked again unless `framed`. */
export function decodeMessage(frame: Uint8Array, ctx: CodecContext, framed = false): Decoded<BgpMessage> {
  if (!framed) {
    if (frame.length < HEADER_LENGTH) {
      return {
        ok: false,
        error: new BgpError(ErrorCode.MessageHeader, 2, `message of ${frame.length} octets`),
      };
    }
    const length = checkHeader(frame, 0, ctx.maxMessageLength);
    if (typeof length !== 'number') return { ok: false, error: length };
    if (length !== frame.length) {
      const field = Uint8Array.of(frame[16], frame[17]);
      return {
        ok: false,
        error: new BgpError(
          ErrorCode.MessageHeader,
          2,
          `length field ${length} but ${frame.length} octets`,
          field,
        ),
      };
    }
  }
  try {
    return { ok: true, message: decodeBody(frame, ctx) };
  } catch (e) {
    if (e instanceof BgpError) return { ok: false, error: e };
    const reason = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      error: new InternalCodecError(internalErrorCode(frame[18]), 0, `internal decoder error: ${reason}`),
    };
  }
}

const KEEPALIVE_BYTES = Buffer.alloc(HEADER_LENGTH);
writeHeader(KEEPALIVE_BYTES, 0, HEADER_LENGTH, MessageType.Keepalive);

/** RFC 4271 §4.4: a KEEPALIVE is the header alone. The returned buffer is shared: do not modify it. */
export function encodeKeepalive(): Buffer {
  return KEEPALIVE_BYTES;
}

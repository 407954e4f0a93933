// NOTIFICATION (RFC 4271 §4.5) with the RFC 9003 shutdown communication of Cease / Administrative
// Shutdown and Administrative Reset, and the RFC 8538 Hard Reset that carries another NOTIFICATION in
// its data. Decoding never throws: a NOTIFICATION is never answered with one (§6.4), so whatever the
// data holds is kept as received and only read where it is well formed.

import {
  CeaseSubcode,
  ErrorCode,
  HEADER_LENGTH,
  MAX_MESSAGE_LENGTH,
  MAX_SHUTDOWN_COMMUNICATION_LENGTH,
  MessageType,
  notificationName,
} from '../constants.ts';
import type { BgpError } from '../errors.ts';
import type { NotificationMessage } from '../types.ts';
import { writeHeader } from './header.ts';

/** Error code(1) Error subcode(1). */
const CODES_LENGTH = 2;
/** Data beyond this would not fit a 4096-octet message, the size every peer accepts (RFC 8654 §3). */
const MAX_DATA_LENGTH = MAX_MESSAGE_LENGTH - HEADER_LENGTH - CODES_LENGTH;
/** How much of the data describeNotification() shows. */
const MAX_DESCRIBED_DATA = 32;

/** What encodeNotification() needs: a NotificationMessage, or its parts. */
export interface NotificationFields {
  readonly code: number;
  readonly subcode: number;
  /** Sent as is when present. */
  readonly data?: Uint8Array;
  /** For Cease 2 and 4 without `data`: the RFC 9003 communication to send. Ignored otherwise. */
  readonly shutdownCommunication?: string;
}

/** RFC 9003 §2: the subcodes that may carry a shutdown communication. */
function carriesCommunication(code: number, subcode: number): boolean {
  return (
    code === ErrorCode.Cease &&
    (subcode === CeaseSubcode.AdministrativeShutdown || subcode === CeaseSubcode.AdministrativeReset)
  );
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * RFC 9003 §2: Length(1) then that many octets of UTF-8. A zero length means no communication. A
 * length that disagrees with the data, or invalid UTF-8, is an error only to be logged (§4): there is
 * then no communication and the data stays raw.
 */
function decodeShutdownCommunication(data: Uint8Array): string | undefined {
  if (data.length < 2 || data[0] !== data.length - 1) return undefined;
  try {
    return utf8.decode(data.subarray(1));
  } catch {
    return undefined;
  }
}

/** Decodes a whole NOTIFICATION (header included). Never throws. */
export function decodeNotification(message: Uint8Array): NotificationMessage {
  const code = message.length > HEADER_LENGTH ? message[HEADER_LENGTH] : 0;
  const subcode = message.length > HEADER_LENGTH + 1 ? message[HEADER_LENGTH + 1] : 0;
  // A copy: the data outlives the receive buffer (it is logged and shown by the CLI).
  const data = new Uint8Array(message.subarray(HEADER_LENGTH + CODES_LENGTH));
  const shutdownCommunication = carriesCommunication(code, subcode)
    ? decodeShutdownCommunication(data)
    : undefined;
  const notification: NotificationMessage = { type: MessageType.Notification, code, subcode, data };
  return shutdownCommunication === undefined ? notification : { ...notification, shutdownCommunication };
}

/** Cuts UTF-8 to at most `max` octets without splitting a character. */
function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--; // bytes[end] continues the character before it
  return bytes.subarray(0, end);
}

/** RFC 9003 §2: Length(1) and the message, truncated to 255 octets on a character boundary. */
export function shutdownCommunicationData(text: string): Uint8Array {
  const bytes = truncateUtf8(Buffer.from(text, 'utf8'), MAX_SHUTDOWN_COMMUNICATION_LENGTH);
  const data = new Uint8Array(1 + bytes.length);
  data[0] = bytes.length;
  data.set(bytes, 1);
  return data;
}

function dataOf(n: NotificationFields): Uint8Array {
  if (n.data !== undefined) return n.data;
  if (n.shutdownCommunication !== undefined && carriesCommunication(n.code, n.subcode)) {
    return shutdownCommunicationData(n.shutdownCommunication);
  }
  return new Uint8Array(0);
}

/**
 * Encodes a whole NOTIFICATION. Data longer than a 4096-octet message can hold is truncated: the
 * NOTIFICATION may have to go out before Extended Message is negotiated, and its data is diagnostic.
 */
export function encodeNotification(n: NotificationFields): Buffer {
  const data = dataOf(n).subarray(0, MAX_DATA_LENGTH);
  const length = HEADER_LENGTH + CODES_LENGTH + data.length;
  const out = Buffer.allocUnsafe(length);
  writeHeader(out, 0, length, MessageType.Notification);
  out[HEADER_LENGTH] = n.code;
  out[HEADER_LENGTH + 1] = n.subcode;
  out.set(data, HEADER_LENGTH + CODES_LENGTH);
  return out;
}

/** The NOTIFICATION a session-fatal error calls for. */
export function notificationFromError(e: BgpError): Buffer {
  return encodeNotification({ code: e.code, subcode: e.subcode, data: e.data });
}

/**
 * RFC 8538 §5.1: the Cease subcodes that end a session for good once both sides set the N bit, sent
 * as a Hard Reset so the peer flushes the routes instead of keeping them stale. Administrative Reset
 * is "provisional" there; Brindle sends it plain (FRR's default is the other way): an operator's
 * session reset then keeps forwarding while the session comes back. BFD Down (RFC 9384, after RFC
 * 8538) goes plain too, as its own subcode; FRR wraps it. Neither side keeps routes after it
 * (rib/graceful-restart.ts).
 */
const HARD_RESET_SUBCODES: ReadonlySet<number> = new Set([
  CeaseSubcode.MaximumNumberOfPrefixesReached,
  CeaseSubcode.AdministrativeShutdown,
  CeaseSubcode.PeerDeConfigured,
  CeaseSubcode.HardReset,
]);

/** RFC 8538 §5.1: this NOTIFICATION goes as a Hard Reset when the N bit was negotiated. */
export function callsForHardReset(code: number, subcode: number): boolean {
  return code === ErrorCode.Cease && HARD_RESET_SUBCODES.has(subcode);
}

/** Cease/Hard Reset: the NOTIFICATION that ends a session without graceful restart (RFC 8538 §4). */
export function isHardReset(n: { readonly code: number; readonly subcode: number }): boolean {
  return n.code === ErrorCode.Cease && n.subcode === CeaseSubcode.HardReset;
}

/**
 * RFC 8538 §3: a Hard Reset carrying `inner` — its data is the inner NOTIFICATION's ErrCode(1),
 * Subcode(1) and Data, so the peer still learns why (a shutdown communication included).
 */
export function hardReset(inner: NotificationFields): NotificationFields {
  const innerData = dataOf(inner);
  const data = new Uint8Array(CODES_LENGTH + innerData.length);
  data[0] = inner.code;
  data[1] = inner.subcode;
  data.set(innerData, CODES_LENGTH);
  return { code: ErrorCode.Cease, subcode: CeaseSubcode.HardReset, data };
}

/**
 * The NOTIFICATION a Hard Reset carries (RFC 8538 §3), with its RFC 9003 communication read;
 * undefined for any other NOTIFICATION, or a Hard Reset whose data is too short to hold one.
 */
export function hardResetCause(n: NotificationFields): NotificationFields | undefined {
  if (!isHardReset(n) || n.data === undefined || n.data.length < CODES_LENGTH) return undefined;
  const code = n.data[0];
  const subcode = n.data[1];
  const data = n.data.subarray(CODES_LENGTH);
  const communication = carriesCommunication(code, subcode) ? decodeShutdownCommunication(data) : undefined;
  return communication === undefined
    ? { code, subcode, data }
    : { code, subcode, data, shutdownCommunication: communication };
}

/**
 * One line for logs: `Cease/Administrative Shutdown "maintenance window"`,
 * `OPEN Message Error/Unsupported Version Number, data 00 04`, or for a Hard Reset the NOTIFICATION it
 * carries: `Cease/Hard Reset (Cease/Peer De-configured)`. The communication is quoted and
 * escaped: it is the peer's text (RFC 9003 §6).
 */
export function describeNotification(n: NotificationFields): string {
  const name = notificationName(n.code, n.subcode);
  const cause = hardResetCause(n);
  if (cause) return `${name} (${describeNotification(cause)})`;
  if (n.shutdownCommunication !== undefined) return `${name} ${JSON.stringify(n.shutdownCommunication)}`;
  if (n.data === undefined || n.data.length === 0) return name;
  const shown = [...n.data.subarray(0, MAX_DESCRIBED_DATA)].map((b) => b.toString(16).padStart(2, '0'));
  const more = n.data.length > MAX_DESCRIBED_DATA ? ` … (${n.data.length} octets)` : '';
  return `${name}, data ${shown.join(' ')}${more}`;
}

// Errors as values that already know their NOTIFICATION (RFC 4271 §6) or their RFC 7606 action.
// The mapping from a malformed input to wire bytes lives here and nowhere else.

import { notificationName } from './constants.ts';

const NO_DATA = new Uint8Array(0);

/**
 * A session-fatal error: the session sends this NOTIFICATION and closes. Only this type is ever thrown
 * inside the codec; decodeMessage() turns it into a returned value.
 */
export class BgpError extends Error {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;

  constructor(code: number, subcode: number, reason: string, data: Uint8Array = NO_DATA) {
    super(`${notificationName(code, subcode)}: ${reason}`);
    this.name = 'BgpError';
    this.code = code;
    this.subcode = subcode;
    this.data = data;
  }
}

/**
 * RFC 7606 §2 approaches to a malformed UPDATE, weakest first; when several attributes are malformed
 * the strongest action wins (§3 (b)).
 */
export const ErrorAction = {
  /** §2 "attribute discard": drop the attribute, keep the route. */
  AttributeDiscard: 1,
  /** §2 "treat-as-withdraw": the UPDATE's NLRI are withdrawn; the session stays up. */
  TreatAsWithdraw: 2,
  /** §2 "AFI/SAFI disable" (RFC 4760 §7): stop using the family on this session. */
  AfiSafiDisable: 3,
  /** §2 "session reset": NOTIFICATION and close. */
  SessionReset: 4,
} as const;
export type ErrorAction = (typeof ErrorAction)[keyof typeof ErrorAction];

/** One malformed attribute (or NLRI field) found in an UPDATE, and what RFC 7606 says to do. */
export interface AttributeError {
  readonly action: ErrorAction;
  /** The attribute type code, or 0 for the NLRI / withdrawn routes fields. */
  readonly typeCode: number;
  /** The subcode RFC 4271 §6.3 names for this case (logged, and sent on a session reset). */
  readonly subcode: number;
  readonly reason: string;
  /** For AfiSafiDisable: the family concerned. */
  readonly afi?: number;
  readonly safi?: number;
  /**
   * The malformed attribute as received (flags, type, length, value): RFC 4271 §6.3's Data field, for
   * the NOTIFICATION when the error ends in a session reset. Absent for attribute discard.
   */
  readonly data?: Uint8Array;
  /**
   * RFC 7606 §4: the attribute ran past the Path Attributes field. The error is the field's, whatever
   * the type code says, so no rule that ignores a particular attribute may drop it.
   */
  readonly overrun?: true;
}

/** What decoding one message can return: a message, or the NOTIFICATION the session must send. */
export type Decoded<T> =
  { readonly ok: true; readonly message: T } | { readonly ok: false; readonly error: BgpError };

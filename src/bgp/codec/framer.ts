// Turns the TCP byte stream into whole BGP messages. A message that lies inside one received chunk is
// handed out as a view of that chunk; one that spans chunks is copied exactly once into a buffer of its
// own size. The session pulls messages one at a time, so it can bound the work per event-loop turn.

import { HEADER_LENGTH, MAX_MESSAGE_LENGTH } from '../constants.ts';
import type { BgpError } from '../errors.ts';
import { checkHeader } from './header.ts';

export class MessageFramer {
  /** 4096, raised to 65535 once RFC 8654 Extended Message is negotiated. */
  maxMessageLength = MAX_MESSAGE_LENGTH;
  private readonly chunks: Buffer[] = [];
  /** Read position inside chunks[0]. */
  private offset = 0;
  private available = 0;
  private failure: BgpError | undefined;
  private readonly headerScratch = Buffer.allocUnsafe(HEADER_LENGTH);

  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.failure) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /** Octets received but not yet returned as messages. */
  get bufferedBytes(): number {
    return this.available;
  }

  /**
   * The next whole message (header included), undefined when more bytes are needed, or the header error
   * that ends the session. After an error the framer keeps returning it.
   */
  next(): Buffer | BgpError | undefined {
    if (this.failure) return this.failure;
    if (this.available < HEADER_LENGTH) return undefined;
    const head = this.chunks[0];
    const headerBytes = head.length - this.offset >= HEADER_LENGTH ? head : this.gather(this.headerScratch);
    const headerOffset = headerBytes === head ? this.offset : 0;
    const length = checkHeader(headerBytes, headerOffset, this.maxMessageLength);
    if (typeof length !== 'number') {
      this.failure = length;
      this.chunks.length = 0;
      this.available = 0;
      return length;
    }
    if (this.available < length) return undefined;
    if (head.length - this.offset >= length) {
      const view = head.subarray(this.offset, this.offset + length);
      this.consume(length);
      return view;
    }
    const whole = this.gather(Buffer.allocUnsafe(length));
    this.consume(length);
    return whole;
  }

  /** Copies the next out.length buffered octets into `out` without consuming them. */
  private gather(out: Buffer): Buffer {
    let filled = 0;
    let offset = this.offset;
    for (let i = 0; filled < out.length; i++) {
      const chunk = this.chunks[i];
      const take = Math.min(chunk.length - offset, out.length - filled);
      chunk.copy(out, filled, offset, offset + take);
      filled += take;
      offset = 0;
    }
    return out;
  }

  private consume(count: number): void {
    this.available -= count;
    while (count > 0) {
      const head = this.chunks[0];
      const left = head.length - this.offset;
      if (count < left) {
        this.offset += count;
        return;
      }
      count -= left;
      this.chunks.shift();
      this.offset = 0;
    }
  }
}

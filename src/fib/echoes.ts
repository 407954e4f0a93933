// The notifications a backend's own route writes will cause, in the order the kernel sends them. The
// kernel notifies every applied route write exactly once (one RTM_NEWROUTE or RTM_DELROUTE, an IPv6
// multipath route included) and in the order it applied them, which is the order we sent them; those
// echoes tell listeners nothing the acknowledgement did not, and in a bulk write they are nearly all
// the monitor receives, trailing the acknowledgements by thousands. So they are matched here against
// the writes still expected to echo, and dropped.
//
// A FIFO, not a per-prefix count: the next echo is normally the oldest expected one, an O(1) check.
// When it is not, the writes before the match were refused (their errors not read yet) and are
// skipped. A notification that matches nothing within the lookahead is someone else's and is
// delivered; someone else's change to a prefix we are writing is either notified before our echo
// (then our later write wins anyway) or after it (then it is delivered): either way nothing is lost.

import type { PrefixKey } from '../lib/prefix.ts';

/** Where a write's echo will be notified: table · 256 + protocol. */
export function echoScope(table: number, protocol: number): number {
  return table * 256 + protocol;
}

export class EchoQueue {
  private scopes: number[] = [];
  private keys: (PrefixKey | undefined)[] = [];
  private head = 0;
  /** Absolute position of keys[0], so tickets survive compaction. */
  private base = 0;

  constructor(private readonly lookahead = 8192) {}

  /** Expects the echo of a write being sent; the ticket cancels it if the write is refused. */
  expect(scope: number, key: PrefixKey): number {
    this.scopes.push(scope);
    this.keys.push(key);
    return this.base + this.keys.length - 1;
  }

  /** The write was refused (or its outcome lost): no echo will come. */
  cancel(ticket: number): void {
    const i = ticket - this.base;
    if (i >= this.head && i < this.keys.length) this.keys[i] = undefined;
  }

  /** Is a notification for (scope, key) the echo of one of our writes? Consumes it if so. */
  consume(scope: number, key: PrefixKey): boolean {
    const end = Math.min(this.keys.length, this.head + this.lookahead);
    for (let i = this.head; i < end; i++) {
      if (this.keys[i] !== key || this.scopes[i] !== scope) continue;
      this.head = i + 1;
      this.compact();
      return true;
    }
    return false;
  }

  /** Notifications were lost (ENOBUFS): nothing can be matched any more. */
  clear(): void {
    this.base += this.keys.length;
    this.scopes = [];
    this.keys = [];
    this.head = 0;
  }

  /** Expected echoes, refused ones not yet skipped included. */
  get size(): number {
    return this.keys.length - this.head;
  }

  private compact(): void {
    if (this.head === this.keys.length) return this.clear();
    if (this.head < 4096 || this.head * 2 < this.keys.length) return;
    this.base += this.head;
    this.scopes = this.scopes.slice(this.head);
    this.keys = this.keys.slice(this.head);
    this.head = 0;
  }
}

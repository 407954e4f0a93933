// Destinations waiting for a decision, first in first out, held in chunks of at most CHUNK. A turn's
// batch is a chunk, not a slice of one long array: an array over V8's largest regular object (128 KiB,
// 16,384 slots) is a large object, and one that a scavenge finds alive in the middle of its decision
// turn is promoted on the spot, to stay until a full collection. A full-table load made such arrays
// every turn (the queue grown past 16,384 by push, the batch sliced from it, the remainder sliced
// again, the best-changed list), 12 MiB of garbage at the peak of the reflector benchmark's S3 by its
// memory census. An array of CHUNK slots that a scavenge meets alive is copied once and dies young.

/** 8,192 slots: 64 KiB, and push's growth stops at 9,292 slots (73 KiB), under the limit. */
export const CHUNK = 8_192;

export class DecisionQueue<T> {
  /** Full chunks, oldest first, then `tail`, which push fills. */
  private readonly full: T[][] = [];
  private head = 0;
  private tail: T[] = [];
  length = 0;

  push(item: T): void {
    if (this.tail.length === CHUNK) {
      this.full.push(this.tail);
      this.tail = [];
    }
    this.tail.push(item);
    this.length++;
  }

  /** Takes up to `max` of the oldest items (at most a chunk), as a list of their own. */
  take(max: number): T[] {
    let chunk = this.head < this.full.length ? this.full[this.head] : this.tail;
    if (chunk.length > max) {
      const rest = chunk.slice(max);
      if (chunk === this.tail) this.tail = rest;
      else this.full[this.head] = rest;
      chunk = chunk.slice(0, max);
    } else if (chunk === this.tail) {
      this.tail = [];
    } else {
      this.full[this.head++] = [];
      // Emptied chunks leave the front when all have gone, or in 64s under a standing backlog.
      if (this.head === this.full.length) this.full.length = this.head = 0;
      else if (this.head === 64) {
        this.full.splice(0, 64);
        this.head = 0;
      }
    }
    this.length -= chunk.length;
    return chunk;
  }

  /** The items queued when the iteration starts, oldest first: what is pushed later is not met. */
  *values(): IterableIterator<T> {
    const chunks = this.full.slice(this.head);
    chunks.push(this.tail);
    const lengths = chunks.map((chunk) => chunk.length);
    for (let c = 0; c < chunks.length; c++) for (let i = 0; i < lengths[c]; i++) yield chunks[c][i];
  }
}

// A growable big-endian writer for building messages. Length fields that precede their content are
// reserved first and patched when the content is done, so nothing is encoded twice.

export class ByteWriter {
  buffer: Buffer;
  offset = 0;

  constructor(initialSize = 256) {
    this.buffer = Buffer.allocUnsafe(initialSize);
  }

  /** Makes room for `extra` more octets, for callers that write into `buffer` directly. */
  ensure(extra: number): void {
    const needed = this.offset + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }

  u8(value: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = value;
    return this;
  }

  u16(value: number): this {
    this.ensure(2);
    this.buffer.writeUInt16BE(value, this.offset);
    this.offset += 2;
    return this;
  }

  u32(value: number): this {
    this.ensure(4);
    this.buffer.writeUInt32BE(value >>> 0, this.offset);
    this.offset += 4;
    return this;
  }

  bytes(value: Uint8Array): this {
    this.ensure(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
    return this;
  }

  /** Reserves a length field of `size` octets (1 or 2) and returns its position for `patchLength`. */
  reserve(size: 1 | 2): number {
    this.ensure(size);
    const at = this.offset;
    this.offset += size;
    return at;
  }

  /** Writes the number of octets written since the reserved field ended into that field. */
  patchLength(at: number, size: 1 | 2): number {
    const length = this.offset - at - size;
    if (size === 1) this.buffer[at] = length;
    else this.buffer.writeUInt16BE(length, at);
    return length;
  }

  /** A copy of what was written: the writer's buffer is reused or grown later. */
  toBuffer(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.offset));
  }
}

// The framer against the stream: every split point of a message sequence, header errors, and the
// zero-copy / copy-once guarantee.
import test from 'ava';
import { MessageFramer } from '../../../src/bgp/codec/framer.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import { HeaderSubcode, ErrorCode, MAX_EXTENDED_MESSAGE_LENGTH } from '../../../src/bgp/constants.ts';

const marker = 'ff'.repeat(16);
const KEEPALIVE = Buffer.from(`${marker}001304`, 'hex');
// UPDATE: no withdrawn, attributes ORIGIN IGP + AS_PATH empty + NEXT_HOP 192.0.2.1, NLRI 10.0.0.0/24
const UPDATE = Buffer.from(
  `${marker}002a02` + '0000' + '000f' + '40010100' + '40020000' + '400304c0000201' + '180a0000',
  'hex',
);
// NOTIFICATION Cease/Administrative Shutdown without data
const NOTIFICATION = Buffer.from(`${marker}0015030602`, 'hex');
const STREAM = Buffer.concat([KEEPALIVE, UPDATE, NOTIFICATION, KEEPALIVE]);

function drain(framer: MessageFramer): Buffer[] {
  const out: Buffer[] = [];
  for (let m = framer.next(); m !== undefined; m = framer.next()) {
    if (m instanceof BgpError) throw m;
    out.push(m);
  }
  return out;
}

test('splitting the stream at every pair of offsets yields the same messages', (t) => {
  const expected = [KEEPALIVE, UPDATE, NOTIFICATION, KEEPALIVE].map((b) => b.toString('hex'));
  for (let a = 0; a <= STREAM.length; a++) {
    for (let b = a; b <= STREAM.length; b++) {
      const framer = new MessageFramer();
      const got: Buffer[] = [];
      for (const piece of [STREAM.subarray(0, a), STREAM.subarray(a, b), STREAM.subarray(b)]) {
        framer.push(piece);
        got.push(...drain(framer));
      }
      if (got.map((g) => g.toString('hex')).join() !== expected.join()) {
        t.fail(`split at ${a},${b}`);
        return;
      }
      t.is(framer.bufferedBytes, 0);
    }
  }
  t.pass();
});

test('one byte at a time', (t) => {
  const framer = new MessageFramer();
  const got: Buffer[] = [];
  for (const byte of STREAM) {
    framer.push(Buffer.of(byte));
    got.push(...drain(framer));
  }
  t.deepEqual(got, [KEEPALIVE, UPDATE, NOTIFICATION, KEEPALIVE]);
});

test('a message inside one chunk is a view of that chunk, not a copy', (t) => {
  const framer = new MessageFramer();
  framer.push(STREAM);
  const first = framer.next() as Buffer;
  t.is(first.buffer, STREAM.buffer);
  t.is(first.byteOffset, STREAM.byteOffset);
});

function headerError(bytes: string): BgpError {
  const framer = new MessageFramer();
  framer.push(Buffer.from(bytes, 'hex'));
  const result = framer.next();
  if (!(result instanceof BgpError)) throw new Error('expected an error');
  return result;
}

test('RFC 4271 §6.1: a marker that is not all ones is Connection Not Synchronized', (t) => {
  const e = headerError(`${'ff'.repeat(15)}fe001304`);
  t.is(e.code, ErrorCode.MessageHeader);
  t.is(e.subcode, HeaderSubcode.ConnectionNotSynchronized);
});

test('RFC 4271 §6.1: bad lengths carry the erroneous length field as data', (t) => {
  const cases: [string, string][] = [
    ['0012', '04'], // below 19
    ['1001', '02'], // 4097 without extended messages
    ['0014', '04'], // KEEPALIVE must be exactly 19
    ['001c', '01'], // OPEN below 29
    ['0016', '02'], // UPDATE below 23
    ['0014', '03'], // NOTIFICATION below 21
  ];
  for (const [length, type] of cases) {
    const e = headerError(`${marker}${length}${type}`);
    t.is(e.subcode, HeaderSubcode.BadMessageLength, `${length}/${type}`);
    t.is(Buffer.from(e.data).toString('hex'), length);
  }
});

test('RFC 4271 §6.1: an unknown type is Bad Message Type with the type as data', (t) => {
  const e = headerError(`${marker}001306`);
  t.is(e.subcode, HeaderSubcode.BadMessageType);
  t.deepEqual([...e.data], [6]);
});

test('RFC 8654: extended messages are accepted once negotiated, but never for OPEN or KEEPALIVE', (t) => {
  const big = Buffer.alloc(5000);
  Buffer.from(`${marker}138802`, 'hex').copy(big);
  const framer = new MessageFramer();
  framer.maxMessageLength = MAX_EXTENDED_MESSAGE_LENGTH;
  framer.push(big);
  t.is((framer.next() as Buffer).length, 5000);
  const open = new MessageFramer();
  open.maxMessageLength = MAX_EXTENDED_MESSAGE_LENGTH;
  open.push(Buffer.from(`${marker}138801`, 'hex'));
  t.true(open.next() instanceof BgpError);
});

test('after a header error the framer stays failed and drops its buffer', (t) => {
  const framer = new MessageFramer();
  framer.push(Buffer.from(`${marker}001306`, 'hex'));
  const first = framer.next();
  framer.push(KEEPALIVE);
  t.is(framer.next(), first);
  t.is(framer.bufferedBytes, 0);
});

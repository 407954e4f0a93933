import test from 'ava';

import { tsharkDecode, tsharkField } from './tshark.ts';

// Hand-written wire bytes, so the helper is checked against tshark alone.
const MARKER = 'ffffffffffffffffffffffffffffffff';

const KEEPALIVE = `${MARKER} 0013 04`;

// OPEN: AS 64512, hold 90 s, id 192.0.2.1; one capabilities parameter with
// MP IPv4 unicast, route refresh, 4-octet AS 65536, ADD-PATH IPv4 unicast send+receive.
const OPEN = `${MARKER} 0033 01
  04 fc00 005a c0000201 16
  02 14
    01 04 0001 00 01
    02 00
    41 04 00010000
    45 04 0001 01 03`;

// UPDATE: ORIGIN IGP, AS_PATH SEQUENCE [64512 65000] (4-octet), NEXT_HOP 192.0.2.2, NLRI 198.51.100.0/24.
const UPDATE = `${MARKER} 0033 02
  0000
  0018
    40 01 01 00
    40 02 0a 02 02 0000fc00 0000fde8
    40 03 04 c0000202
  18 c63364`;

// NOTIFICATION: Cease / Administrative Shutdown with the shutdown communication "bye".
const NOTIFICATION = `${MARKER} 0019 03 06 02 03 627965`;

// UPDATE with ADD-PATH NLRI: path id 1 and path id 2 for the same 198.51.100.0/24.
const ADD_PATH_UPDATE = `${MARKER} 003f 02
  0000
  0018
    40 01 01 00
    40 02 0a 02 02 0000fc00 0000fde8
    40 03 04 c0000202
  00000001 18 c63364
  00000002 18 c63364`;

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ''), 'hex'));
}

test('decodes a KEEPALIVE, OPEN, UPDATE and NOTIFICATION, one result per message', async (t) => {
  const decoded = await tsharkDecode([KEEPALIVE, OPEN, UPDATE, NOTIFICATION].map(bytes));
  t.deepEqual(
    decoded.map((m) => tsharkField(m, 'bgp.type')),
    [['4'], ['1'], ['2'], ['3']],
  );
  t.true(decoded.every((m) => !m.malformed && m.expert.length === 0));
});

test('OPEN fields and one group per capability', async (t) => {
  const [open] = await tsharkDecode([bytes(OPEN)]);
  t.deepEqual(tsharkField(open, 'bgp.open.myas'), ['64512']);
  t.deepEqual(tsharkField(open, 'bgp.open.holdtime'), ['90']);
  t.deepEqual(tsharkField(open, 'bgp.open.identifier'), ['192.0.2.1']);
  t.deepEqual(tsharkField(open, 'bgp.cap.type'), ['1', '2', '65', '69']);
  t.deepEqual(tsharkField(open, 'bgp.cap.4as'), ['65536']);
  t.is(open.capabilities.length, 4);
  t.deepEqual(tsharkField(open.capabilities[0], 'bgp.cap.mp.afi'), ['1']);
  t.deepEqual(tsharkField(open.capabilities[3], 'bgp.cap.ap.sendreceive'), ['3']);
  t.deepEqual(tsharkField(open, 'bgp.no.such.field'), []);
});

test('UPDATE attributes and NLRI', async (t) => {
  const [update] = await tsharkDecode([bytes(UPDATE)], { asnLength: 4 });
  t.deepEqual(tsharkField(update, 'bgp.update.path_attribute.origin'), ['0']);
  t.deepEqual(tsharkField(update, 'bgp.update.path_attribute.as_path_segment.as4'), ['64512', '65000']);
  t.deepEqual(tsharkField(update, 'bgp.update.path_attribute.next_hop'), ['192.0.2.2']);
  t.deepEqual(
    update.pathAttributes.map((a) => tsharkField(a, 'bgp.update.path_attribute.type_code')),
    [['1'], ['2'], ['3']],
  );
  t.deepEqual(update.prefixes.nlri, [{ prefix: '198.51.100.0/24' }]);
  t.deepEqual(update.prefixes.withdrawn, []);
});

test('NOTIFICATION with a shutdown communication', async (t) => {
  const [notification] = await tsharkDecode([bytes(NOTIFICATION)]);
  t.deepEqual(tsharkField(notification, 'bgp.notify.major_error'), ['6']);
  t.deepEqual(tsharkField(notification, 'bgp.notify.minor_error_cease'), ['2']);
  t.deepEqual(tsharkField(notification, 'bgp.notify.communication'), ['bye']);
});

test('ADD-PATH NLRI is read with path ids, and addPath verifies the reading', async (t) => {
  const [update] = await tsharkDecode([bytes(ADD_PATH_UPDATE)], { addPath: true });
  t.deepEqual(update.prefixes.nlri, [
    { prefix: '198.51.100.0/24', pathId: '1' },
    { prefix: '198.51.100.0/24', pathId: '2' },
  ]);
  await t.throwsAsync(tsharkDecode([bytes(UPDATE)], { addPath: true }), { message: /without an ADD-PATH/ });
});

test('messages up to 4096 bytes decode; longer (RFC 8654) ones are refused', async (t) => {
  // Hand-written UPDATE body repeated to size: 1012 copies of 198.51.100.0/24 give 4095 bytes.
  const update = (copies: number): Uint8Array => {
    const body = `0000 0018 40010100 40020a02020000fc000000fde8 400304c0000202 ${'18c63364'.repeat(copies)}`;
    const length = 19 + bytes(body).length;
    return bytes(`${MARKER} ${length.toString(16).padStart(4, '0')} 02 ${body}`);
  };
  const [decoded] = await tsharkDecode([update(1012)]);
  t.is(decoded.prefixes.nlri.length, 1012);
  await t.throwsAsync(tsharkDecode([update(1013)]), { message: /at most 4096/ });
});

test('rejects bytes that are not one whole BGP message', async (t) => {
  await t.throwsAsync(tsharkDecode([bytes(KEEPALIVE).subarray(0, 18)]), {
    message: /not one whole BGP message/,
  });
});

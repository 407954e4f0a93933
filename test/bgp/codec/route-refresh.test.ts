// ROUTE-REFRESH (RFC 2918 §3, RFC 7313 §3.2) as golden messages both ways, unknown subtypes passed on
// for the session to ignore (RFC 7313 §5), wrong lengths refused with 7/1, and tshark.

import test from 'ava';

import {
  decodeRouteRefresh,
  encodeRouteRefresh,
  isKnownRouteRefreshSubtype,
} from '../../../src/bgp/codec/route-refresh.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { RouteRefreshMessage } from '../../../src/bgp/types.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';

/** Golden bytes as commented hex: `#` starts a comment, whitespace is ignored. */
function hex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad golden hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

const MARKER = 'ffffffffffffffffffffffffffffffff';

const GOLDEN: [name: string, wire: string, message: RouteRefreshMessage][] = [
  [
    'request for IPv4 unicast',
    `${MARKER} 0017 05   # length 23, ROUTE-REFRESH
     0001                # AFI 1 IPv4
     00                  # Message Subtype 0: normal request (RFC 2918 "Reserved")
     01                  # SAFI 1 unicast`,
    { type: 5, afi: 1, subtype: 0, safi: 1 },
  ],
  [
    'Beginning of Route Refresh for IPv6 unicast',
    `${MARKER} 0017 05 0002 01 01   # AFI 2, subtype 1 BoRR (RFC 7313 §3.2), SAFI 1`,
    { type: 5, afi: 2, subtype: 1, safi: 1 },
  ],
  [
    'End of Route Refresh for IPv4 unicast',
    `${MARKER} 0017 05 0001 02 01   # AFI 1, subtype 2 EoRR, SAFI 1`,
    { type: 5, afi: 1, subtype: 2, safi: 1 },
  ],
  [
    'an unknown subtype, passed on to be ignored (RFC 7313 §5)',
    `${MARKER} 0017 05 0001 03 01   # subtype 3: unassigned`,
    { type: 5, afi: 1, subtype: 3, safi: 1 },
  ],
  [
    'the reserved subtype 255, passed on to be ignored',
    `${MARKER} 0017 05 0002 ff 02   # AFI 2, subtype 255, SAFI 2 multicast`,
    { type: 5, afi: 2, subtype: 255, safi: 2 },
  ],
];

for (const [name, wire, message] of GOLDEN) {
  test(`golden ROUTE-REFRESH, ${name}`, (t) => {
    const golden = hex(wire);
    t.deepEqual(decodeRouteRefresh(golden), message);
    t.deepEqual(encodeRouteRefresh(message), golden);
  });
}

test('the subtype defaults to a normal request', (t) => {
  t.deepEqual(encodeRouteRefresh({ afi: 1, safi: 1 }), hex(GOLDEN[0][1]));
});

test('only subtypes 0, 1 and 2 are known', (t) => {
  t.deepEqual(
    [0, 1, 2, 3, 128, 255].map((s) => isKnownRouteRefreshSubtype(s)),
    [true, true, true, false, false, false],
  );
});

// RFC 7313 §5: Error code 7, subcode 1, the whole message as data.
for (const length of [19, 22, 24, 27]) {
  test(`a ROUTE-REFRESH of ${length} octets → 7/1 with the message as data`, (t) => {
    const wire = Buffer.alloc(length, 0xff);
    wire.writeUInt16BE(length, 16);
    wire[18] = 5;
    const error = t.throws(() => decodeRouteRefresh(wire), { instanceOf: BgpError });
    t.is(error?.code, 7);
    t.is(error?.subcode, 1);
    t.deepEqual(Buffer.from(error?.data ?? []), wire);
  });
}

test('tshark reads the golden ROUTE-REFRESH messages as Brindle does', async (t) => {
  const goldens = GOLDEN.map(([, wire]) => hex(wire));
  const decoded = await tsharkDecode(goldens);
  goldens.forEach((wire, i) => {
    const ours = decodeRouteRefresh(wire);
    t.deepEqual(tsharkField(decoded[i], 'bgp.type'), ['5']);
    t.deepEqual(tsharkField(decoded[i], 'bgp.route_refresh.afi'), [String(ours.afi)]);
    t.deepEqual(tsharkField(decoded[i], 'bgp.route_refresh.subtype'), [String(ours.subtype)]);
    t.deepEqual(tsharkField(decoded[i], 'bgp.route_refresh.safi'), [String(ours.safi)]);
  });
});

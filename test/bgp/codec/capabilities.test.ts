// Capabilities (RFC 5492 §4) as golden triples written from each RFC's value layout, checked both ways,
// the malformed ones with the NOTIFICATION (or the "ignore") they call for, and a tshark cross-check.

import test from 'ava';

import {
  capabilityName,
  decodeCapabilities,
  describeCapability,
  encodeCapabilities,
  encodeCapability,
  isKnownCapability,
} from '../../../src/bgp/codec/capabilities.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { Capability } from '../../../src/bgp/types.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';

/** Golden bytes as commented hex: `#` starts a comment, whitespace is ignored. */
function hex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad golden hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

/** A plain Uint8Array, as the decoder returns raw values. */
function bytes(text: string): Uint8Array {
  return new Uint8Array(hex(text));
}

interface Golden {
  readonly wire: string;
  readonly cap: Capability;
  readonly described: string;
}

const GOLDEN: Golden[] = [
  {
    wire: `01 04          # Multiprotocol (RFC 4760 §8), length 4
           0001 00 01     # AFI 1 IPv4, reserved, SAFI 1 unicast`,
    cap: { code: 1, afi: 1, safi: 1 },
    described: 'multiprotocol ipv4-unicast',
  },
  {
    wire: `01 04 0002 00 01   # Multiprotocol: AFI 2 IPv6, SAFI 1`,
    cap: { code: 1, afi: 2, safi: 1 },
    described: 'multiprotocol ipv6-unicast',
  },
  { wire: `02 00   # Route Refresh (RFC 2918 §2), no value`, cap: { code: 2 }, described: 'route-refresh' },
  {
    wire: `06 00   # Extended Message (RFC 8654 §3), no value`,
    cap: { code: 6 },
    described: 'extended-message',
  },
  {
    wire: `40 02   # Graceful Restart (RFC 4724 §3), length 2: BIRD 2's "aware" mode
           0078    # flags 0, Restart Time 120 s; no families`,
    cap: { code: 64, restartState: false, notification: false, restartTimeSec: 120, families: [] },
    described: 'graceful-restart 120s',
  },
  {
    wire: `40 0a         # Graceful Restart, length 10
           c0b4          # R (0x8000) and N (RFC 8538, 0x4000) set, Restart Time 0x0b4 = 180 s
           0001 01 80    # IPv4 unicast, F bit set
           0002 01 00    # IPv6 unicast, F bit clear`,
    cap: {
      code: 64,
      restartState: true,
      notification: true,
      restartTimeSec: 180,
      families: [
        { afi: 1, safi: 1, forwardingState: true },
        { afi: 2, safi: 1, forwardingState: false },
      ],
    },
    described: 'graceful-restart 180s restarting notification ipv4-unicast(F) ipv6-unicast',
  },
  {
    wire: `40 02 0fff   # Graceful Restart: the largest 12-bit Restart Time, 4095 s`,
    cap: { code: 64, restartState: false, notification: false, restartTimeSec: 4095, families: [] },
    described: 'graceful-restart 4095s',
  },
  {
    wire: `41 04 fa56ea01   # 4-octet AS (RFC 6793 §3): 4200000001`,
    cap: { code: 65, asn: 4200000001 },
    described: '4-octet-as 4200000001',
  },
  {
    wire: `45 08         # ADD-PATH (RFC 7911 §4), two families
           0001 01 03    # IPv4 unicast, Send/Receive 3 (both)
           0002 01 01    # IPv6 unicast, 1 (receive)`,
    cap: {
      code: 69,
      families: [
        { afi: 1, safi: 1, mode: 3 },
        { afi: 2, safi: 1, mode: 1 },
      ],
    },
    described: 'add-path ipv4-unicast send/receive, ipv6-unicast receive',
  },
  {
    wire: `45 04 0002 01 02   # ADD-PATH: IPv6 unicast, 2 (send)`,
    cap: { code: 69, families: [{ afi: 2, safi: 1, mode: 2 }] },
    described: 'add-path ipv6-unicast send',
  },
  {
    wire: `45 00   # ADD-PATH with no families: legal, announces nothing`,
    cap: { code: 69, families: [] },
    described: 'add-path',
  },
  {
    wire: `46 00   # Enhanced Route Refresh (RFC 7313 §3.1), no value`,
    cap: { code: 70 },
    described: 'enhanced-route-refresh',
  },
  {
    wire: `47 0e              # Long-Lived GR (RFC 9494), two families of 7 octets
           0001 01 80 000e10  # IPv4 unicast, F set, Long-Lived Stale Time 3600 s
           0002 01 00 ffffff  # IPv6 unicast, F clear, the largest 24-bit time`,
    cap: {
      code: 71,
      families: [
        { afi: 1, safi: 1, forwardingState: true, staleTimeSec: 3600 },
        { afi: 2, safi: 1, forwardingState: false, staleTimeSec: 0xffffff },
      ],
    },
    described: 'long-lived-graceful-restart ipv4-unicast 3600s(F), ipv6-unicast 16777215s',
  },
  {
    wire: `47 00   # Long-Lived GR with no families: BIRD 2's default "aware" mode`,
    cap: { code: 71, families: [] },
    described: 'long-lived-graceful-restart',
  },
  {
    wire: `49 12                        # FQDN (draft-walton-bgp-hostname-capability), length 18
           05 7272312d61                # hostname length 5, "rr1-a"
           0b 6578616d706c652e6e6574    # domain name length 11, "example.net"`,
    cap: { code: 73, hostname: 'rr1-a', domainName: 'example.net' },
    described: 'fqdn "rr1-a.example.net"',
  },
  {
    wire: `49 09             # FQDN, length 9
           07 7ac3bc72696368 # hostname "zürich" (ü is c3 bc in UTF-8)
           00                # no domain name`,
    cap: { code: 73, hostname: 'zürich', domainName: '' },
    described: 'fqdn "zürich"',
  },
  // Codes Brindle does not decode travel as raw bytes (RFC 5492 §3: ignored, not an error).
  {
    wire: `09 01 03   # BGP Role (RFC 9234), role 3 (customer)`,
    cap: { code: 9, unknown: true, value: bytes('03') },
    described: 'role (1 octet)',
  },
  {
    wire: `05 06 0001 0001 0002   # Extended Next Hop (RFC 8950): IPv4 unicast over IPv6, as GoBGP sends`,
    cap: { code: 5, unknown: true, value: bytes('000100010002') },
    described: 'extended-next-hop (6 octets)',
  },
  {
    wire: `80 00   # pre-standard Cisco route refresh`,
    cap: { code: 128, unknown: true, value: bytes('') },
    described: 'route-refresh-cisco (0 octets)',
  },
  {
    wire: `c8 03 010203   # unassigned code 200`,
    cap: { code: 200, unknown: true, value: bytes('010203') },
    described: 'capability 200 (3 octets)',
  },
];

for (const { wire, cap, described } of GOLDEN) {
  test(`golden ${described}: decode and encode`, (t) => {
    const golden = hex(wire);
    t.deepEqual(decodeCapabilities(golden), [cap]);
    t.deepEqual(encodeCapability(cap), golden);
    t.is(describeCapability(cap), described);
  });
}

test('a parameter holds several capabilities, repeated codes included, in wire order (RFC 5492 §4)', (t) => {
  const wire = hex(`01 04 0001 00 01   # Multiprotocol IPv4 unicast
                    01 04 0002 00 01   # Multiprotocol again, IPv6 unicast (RFC 4760 §8: one per family)
                    02 00              # Route Refresh
                    02 00              # the same again: harmless, kept
                    41 04 0000fde8     # 4-octet AS 65000`);
  const caps: Capability[] = [
    { code: 1, afi: 1, safi: 1 },
    { code: 1, afi: 2, safi: 1 },
    { code: 2 },
    { code: 2 },
    { code: 65, asn: 65000 },
  ];
  t.deepEqual(decodeCapabilities(wire), caps);
  t.deepEqual(encodeCapabilities(caps), wire);
  t.deepEqual(decodeCapabilities(new Uint8Array(0)), []);
});

// Malformed but harmless: kept raw, so the session ignores them like any capability not understood.
const IGNORED: [string, string][] = [
  ['Route Refresh with a value (RFC 2918 §2 says length 0)', '02 01 00'],
  ['Enhanced Route Refresh with a value (RFC 7313 §3.1 says length 0)', '46 02 0000'],
  ['Graceful Restart shorter than its 2-octet header', '40 00'],
  ['Graceful Restart with a partial family (length 2 + 4n expected)', '40 03 0078 00'],
  ['Long-Lived GR with a partial family (7 octets each)', '47 06 0001 01 80 000e'],
  ['ADD-PATH Send/Receive 0 (RFC 7911 §4: "treated as not understood")', '45 04 0001 01 00'],
  ['ADD-PATH Send/Receive 4 in the second family', '45 08 0001 01 01 0002 01 04'],
  ['FQDN with no value', '49 00'],
  ['FQDN hostname overrunning the value', '49 03 05 6162'],
  ['FQDN with octets after the domain name', '49 04 01 61 00 ff'],
  ['FQDN hostname that is not UTF-8', '49 03 01 ff 00'],
];

for (const [name, wire] of IGNORED) {
  test(`ignored, kept raw: ${name}`, (t) => {
    const golden = hex(wire);
    const [cap] = decodeCapabilities(golden);
    t.deepEqual(cap, { code: golden[0], unknown: true, value: new Uint8Array(golden.subarray(2)) });
    t.false(isKnownCapability(cap));
    t.regex(describeCapability(cap), /\(not understood, \d+ octets?\)$/);
    t.deepEqual(encodeCapability(cap), golden, 'raw capabilities are re-encoded as received');
  });
}

// Session-fatal: OPEN Message Error / 0 Unspecific (RFC 4271 §6.2), no data.
const FATAL: [string, string][] = [
  ['capability header cut after the code', '02'],
  ['capability header cut after a whole capability', '02 00 41'],
  ['4-octet AS value overrunning the parameter', '41 04 fa56'],
  ['Multiprotocol of 3 octets (RFC 4760 §8 says 4)', '01 03 0001 01'],
  ['Multiprotocol of 5 octets', '01 05 0001 00 01 00'],
  ['Multiprotocol with no value', '01 00'],
  ['Extended Message with a value (RFC 8654 §3 says length 0)', '06 01 00'],
  ['4-octet AS of 2 octets (RFC 6793 §3 says 4)', '41 02 fde8'],
  ['4-octet AS with no value', '41 00'],
  ['ADD-PATH of 5 octets (RFC 7911 §4: 4 per family)', '45 05 0001 01 03 00'],
  ['ADD-PATH of 3 octets', '45 03 0001 01'],
];

for (const [name, wire] of FATAL) {
  test(`session-fatal 2/0: ${name}`, (t) => {
    const error = t.throws(() => decodeCapabilities(hex(wire)), { instanceOf: BgpError });
    t.is(error?.code, 2);
    t.is(error?.subcode, 0);
    t.deepEqual(error?.data, new Uint8Array(0));
  });
}

test('values that cannot be encoded are refused, not truncated', (t) => {
  const gr = (restartTimeSec: number): Capability => ({
    code: 64,
    restartState: false,
    notification: false,
    restartTimeSec,
    families: [],
  });
  t.throws(() => encodeCapability(gr(4096)), { instanceOf: RangeError });
  const llgr: Capability = {
    code: 71,
    families: [{ afi: 1, safi: 1, forwardingState: false, staleTimeSec: 2 ** 24 }],
  };
  t.throws(() => encodeCapability(llgr), { instanceOf: RangeError });
  t.throws(() => encodeCapability({ code: 73, hostname: 'h'.repeat(256), domainName: '' }), {
    instanceOf: RangeError,
  });
  // 2 + 64 × 4 = 258 octets: more than a one-octet Capability Length can say.
  const families = Array.from({ length: 64 }, (_, i) => ({ afi: 1, safi: i, forwardingState: false }));
  t.throws(
    () =>
      encodeCapability({ code: 64, restartState: false, notification: false, restartTimeSec: 120, families }),
    {
      instanceOf: RangeError,
    },
  );
  t.throws(() => encodeCapability({ code: 200, unknown: true, value: new Uint8Array(256) }), {
    instanceOf: RangeError,
  });
});

test('names for logs', (t) => {
  t.is(capabilityName(69), 'add-path');
  t.is(capabilityName(75), 'software-version');
  t.is(capabilityName(250), 'capability 250');
  t.true(isKnownCapability({ code: 2 }));
});

// ---------------------------------------------------------------------------------------------------
// Independent check: tshark reads the same golden capabilities, wrapped in one OPEN.

function openAround(capabilities: Buffer): Buffer {
  const body = Buffer.concat([
    hex('04 fde8 00b4 c0000201'), // version 4, AS 65000, hold 180 s, identifier 192.0.2.1
    Buffer.of(capabilities.length + 2, 2, capabilities.length), // Opt Parm Len, type 2, length
    capabilities,
  ]);
  const header = Buffer.alloc(19, 0xff);
  header.writeUInt16BE(19 + body.length, 16);
  header[18] = 1;
  return Buffer.concat([header, body]);
}

/** tshark 4.0 reads FQDN names as ASCII, so a non-ASCII name is compared by its octet length only. */
function fqdnText(field: string, text: string): Record<string, string[]> {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return { [`bgp.cap.orf.fqdn.${field}`]: [text] };
  return { [`bgp.cap.orf.fqdn.${field}.len`]: [String(Buffer.byteLength(text))] };
}

/** The value fields tshark 4.0 shows for each capability Brindle decodes. */
function expectedTsharkFields(cap: Capability): Record<string, string[]> {
  if (!isKnownCapability(cap)) return {};
  const hex2 = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  switch (cap.code) {
    case 1:
      return { 'bgp.cap.mp.afi': [String(cap.afi)], 'bgp.cap.mp.safi': [String(cap.safi)] };
    case 64:
      return {
        'bgp.cap.gr.timers.restart_flag': [cap.restartState ? '1' : '0'],
        'bgp.cap.gr.timers.notification_flag': [cap.notification ? '1' : '0'],
        'bgp.cap.gr.timers.restart_time': [String(cap.restartTimeSec)],
        'bgp.cap.gr.afi': cap.families.map((f) => String(f.afi)),
        'bgp.cap.gr.safi': cap.families.map((f) => String(f.safi)),
        'bgp.cap.gr.flag': cap.families.map((f) => hex2(f.forwardingState ? 0x80 : 0)),
      };
    case 65:
      return { 'bgp.cap.4as': [String(cap.asn)] };
    case 69:
      return {
        'bgp.cap.ap.afi': cap.families.map((f) => String(f.afi)),
        'bgp.cap.ap.safi': cap.families.map((f) => String(f.safi)),
        'bgp.cap.ap.sendreceive': cap.families.map((f) => String(f.mode)),
      };
    case 73:
      return { ...fqdnText('hostname', cap.hostname), ...fqdnText('domain_name', cap.domainName) };
    case 2:
    case 6:
    case 70:
      return {}; // no value
    case 71:
      return {}; // tshark 4.0 shows it raw only
  }
}

test('tshark reads every golden capability as Brindle does', async (t) => {
  const decoded = await tsharkDecode(GOLDEN.map(({ wire }) => openAround(hex(wire))));
  GOLDEN.forEach(({ cap, described }, i) => {
    const [capFields] = decoded[i].capabilities;
    t.false(decoded[i].malformed, described);
    t.deepEqual(tsharkField(capFields, 'bgp.cap.type'), [String(cap.code)], described);
    const valueLength = hex(GOLDEN[i].wire)[1];
    t.deepEqual(tsharkField(capFields, 'bgp.cap.length'), [String(valueLength)], described);
    for (const [field, values] of Object.entries(expectedTsharkFields(cap))) {
      t.deepEqual(tsharkField(capFields, field), values, `${described}: ${field}`);
    }
  });
});

// OPEN (RFC 4271 §4.2, RFC 9072) as golden messages written from the RFC layout and shaped like what
// real speakers send, checked both ways; the malformed corpus with the exact NOTIFICATION each case
// calls for; and tshark as an independent reader of the same bytes.

import test from 'ava';

import { decodeOpen, encodeOpen } from '../../../src/bgp/codec/open.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { OpenMessage } from '../../../src/bgp/types.ts';
import { formatIpv4 } from '../../../src/lib/address.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';

/** Golden bytes as commented hex: `#` starts a comment, whitespace is ignored. */
function hex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad golden hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

function bytes(text: string): Uint8Array {
  return new Uint8Array(hex(text));
}

/** An OPEN around a hand-written body; only the header (marker, length, type 1) is computed. */
function rawOpen(body: string): Buffer {
  const value = hex(body);
  const header = Buffer.alloc(19, 0xff);
  header.writeUInt16BE(19 + value.length, 16);
  header[18] = 1;
  return Buffer.concat([header, value]);
}

type Fields = Omit<OpenMessage, 'type'>;

function open(
  fields: Partial<Fields> & Pick<Fields, 'myAutonomousSystem' | 'holdTimeSec' | 'bgpIdentifier'>,
): OpenMessage {
  return {
    type: 1,
    version: 4,
    capabilities: [],
    unsupportedParameters: [],
    extendedParameters: false,
    ...fields,
  };
}

const MARKER = 'ffffffffffffffffffffffffffffffff';

interface Golden {
  readonly name: string;
  readonly wire: Buffer;
  readonly message: OpenMessage;
}

const BIRD_2: Golden = {
  name: 'BIRD 2 (IPv4 and IPv6 channels, defaults)',
  wire: hex(`${MARKER}
    003b                # length 59
    01                  # type OPEN
    04                  # version 4
    fde9                # My Autonomous System 65001
    00f0                # Hold Time 240 s (BIRD's default)
    c0000201            # BGP Identifier 192.0.2.1
    1e                  # Optional Parameters Length 30
    02 1c               # parameter 2 (Capabilities, RFC 5492 §4), length 28
      01 04 0001 00 01  # multiprotocol IPv4 unicast
      01 04 0002 00 01  # multiprotocol IPv6 unicast
      02 00             # route refresh
      40 02 0078        # graceful restart "aware": 120 s, no families
      41 04 0000fde9    # 4-octet AS 65001
      46 00             # enhanced route refresh
      47 00             # long-lived graceful restart "aware", no families`),
  message: open({
    myAutonomousSystem: 65001,
    holdTimeSec: 240,
    bgpIdentifier: 0xc0000201,
    capabilities: [
      { code: 1, afi: 1, safi: 1 },
      { code: 1, afi: 2, safi: 1 },
      { code: 2 },
      { code: 64, restartState: false, notification: false, restartTimeSec: 120, families: [] },
      { code: 65, asn: 65001 },
      { code: 70 },
      { code: 71, families: [] },
    ],
  }),
};

const GOBGP: Golden = {
  name: 'GoBGP (graceful restart, ADD-PATH receive, unnumbered)',
  wire: hex(`${MARKER}
    0057                  # length 87
    01 04                 # OPEN, version 4
    fdea                  # My Autonomous System 65002
    005a                  # Hold Time 90 s (GoBGP's default)
    c0000202              # BGP Identifier 192.0.2.2
    3a                    # Optional Parameters Length 58
    02 38                 # Capabilities, length 56
      02 00               # route refresh
      49 08 06 676f62677031 00        # FQDN: hostname "gobgp1", no domain name
      01 04 0001 00 01    # multiprotocol IPv4 unicast
      01 04 0002 00 01    # multiprotocol IPv6 unicast
      41 04 0000fdea      # 4-octet AS 65002
      40 0a 4078          # graceful restart: N bit (RFC 8538), 120 s
            0001 01 00    #   IPv4 unicast, F clear
            0002 01 00    #   IPv6 unicast, F clear
      05 06 0001 0001 0002            # extended next hop (RFC 8950): unknown to Brindle, kept raw
      45 04 0001 01 01    # ADD-PATH IPv4 unicast receive`),
  message: open({
    myAutonomousSystem: 65002,
    holdTimeSec: 90,
    bgpIdentifier: 0xc0000202,
    capabilities: [
      { code: 2 },
      { code: 73, hostname: 'gobgp1', domainName: '' },
      { code: 1, afi: 1, safi: 1 },
      { code: 1, afi: 2, safi: 1 },
      { code: 65, asn: 65002 },
      {
        code: 64,
        restartState: false,
        notification: true,
        restartTimeSec: 120,
        families: [
          { afi: 1, safi: 1, forwardingState: false },
          { afi: 2, safi: 1, forwardingState: false },
        ],
      },
      { code: 5, unknown: true, value: bytes('000100010002') },
      { code: 69, families: [{ afi: 1, safi: 1, mode: 1 }] },
    ],
  }),
};

const FOUR_OCTET_AS_CAPABILITIES = `
      01 04 0001 00 01    # multiprotocol IPv4 unicast
      02 00               # route refresh
      41 04 fa56ea01      # 4-octet AS 4200000001 (RFC 6793 §3)`;

const AS4_MESSAGE = open({
  myAutonomousSystem: 23456,
  holdTimeSec: 180,
  bgpIdentifier: 0x0a000001,
  capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: 4200000001 }],
});

const AS_TRANS: Golden = {
  name: 'AS_TRANS with 4-octet AS 4200000001',
  wire: hex(`${MARKER}
    002d 01 04            # length 45, OPEN, version 4
    5ba0                  # My Autonomous System 23456: AS_TRANS (RFC 6793 §9)
    00b4                  # Hold Time 180 s
    0a000001              # BGP Identifier 10.0.0.1
    10                    # Optional Parameters Length 16
    02 0e                 # Capabilities, length 14
    ${FOUR_OCTET_AS_CAPABILITIES}`),
  message: AS4_MESSAGE,
};

const EXTENDED: Golden = {
  name: 'RFC 9072 extended optional parameters',
  wire: hex(`${MARKER}
    0031 01 04 5ba0 00b4 0a000001   # length 49, OPEN, version 4, AS_TRANS, 180 s, 10.0.0.1
    ff                    # Non-Ext OP Len: 255 (RFC 9072 §2)
    ff                    # Non-Ext OP Type: 255, the extended form
    0011                  # Extended Opt. Parm. Length 17
    02 000e               # Capabilities, 2-octet Parameter Length 14
    ${FOUR_OCTET_AS_CAPABILITIES}`),
  message: { ...AS4_MESSAGE, extendedParameters: true },
};

const UNKNOWN_CAPABILITIES: Golden = {
  name: 'capabilities Brindle does not know',
  wire: hex(`${MARKER}
    0037 01 04 fc00 005a c6336407   # length 55, OPEN, version 4, AS 64512, 90 s, 198.51.100.7
    1a 02 18              # Optional Parameters Length 26; Capabilities, length 24
      01 04 0001 00 01    # multiprotocol IPv4 unicast
      02 00               # route refresh
      09 01 03            # BGP role (RFC 9234): customer
      80 00               # pre-standard Cisco route refresh
      c8 03 010203        # unassigned code 200
      41 04 0000fc00      # 4-octet AS 64512`),
  message: open({
    myAutonomousSystem: 64512,
    holdTimeSec: 90,
    bgpIdentifier: 0xc6336407,
    capabilities: [
      { code: 1, afi: 1, safi: 1 },
      { code: 2 },
      { code: 9, unknown: true, value: bytes('03') },
      { code: 128, unknown: true, value: bytes('') },
      { code: 200, unknown: true, value: bytes('010203') },
      { code: 65, asn: 64512 },
    ],
  }),
};

const NO_PARAMETERS: Golden = {
  name: 'plain RFC 4271: no optional parameters, Hold Time 0',
  wire: hex(`${MARKER}
    001d 01 04            # length 29, OPEN, version 4
    fde8 0000 c0000201    # AS 65000, Hold Time 0 (no KEEPALIVEs, §4.2), 192.0.2.1
    00                    # no optional parameters`),
  message: open({ myAutonomousSystem: 65000, holdTimeSec: 0, bgpIdentifier: 0xc0000201 }),
};

const AUTHENTICATION_PARAMETER: Golden = {
  name: 'deprecated Authentication parameter (type 1), kept for the session to refuse',
  wire: hex(`${MARKER}
    002a 01 04 fde8 00b4 c0000201   # length 42, OPEN, version 4, AS 65000, 180 s, 192.0.2.1
    0d                    # Optional Parameters Length 13
    02 06 01 04 0001 00 01          # Capabilities: multiprotocol IPv4 unicast
    01 03 00 abcd         # parameter 1 (Authentication, RFC 1771), code 0, data abcd`),
  message: open({
    myAutonomousSystem: 65000,
    holdTimeSec: 180,
    bgpIdentifier: 0xc0000201,
    capabilities: [{ code: 1, afi: 1, safi: 1 }],
    unsupportedParameters: [{ type: 1, value: bytes('00abcd') }],
  }),
};

const GOLDEN = [
  BIRD_2,
  GOBGP,
  AS_TRANS,
  EXTENDED,
  UNKNOWN_CAPABILITIES,
  NO_PARAMETERS,
  AUTHENTICATION_PARAMETER,
];

for (const { name, wire, message } of GOLDEN) {
  test(`golden OPEN, ${name}: decode and encode`, (t) => {
    t.deepEqual(decodeOpen(wire), message);
    t.deepEqual(encodeOpen(message), wire);
  });
}

// ---------------------------------------------------------------------------------------------------
// Other wire forms that decode to the same message

test('capabilities split over several parameters (FRR, Cisco) decode as one list; encoding joins them', (t) => {
  const split = hex(`${MARKER}
    0033 01 04 fde9 00b4 c0000201   # length 51, OPEN, version 4, AS 65001, 180 s, 192.0.2.1
    16                    # Optional Parameters Length 22
    02 06 01 04 0001 00 01          # Capabilities: multiprotocol IPv4 unicast
    02 02 02 00                     # Capabilities: route refresh
    02 06 41 04 0000fde9            # Capabilities: 4-octet AS 65001
    02 00                           # an empty Capabilities parameter`);
  const joined = hex(`${MARKER}
    002d 01 04 fde9 00b4 c0000201   # length 45
    10 02 0e                        # Optional Parameters Length 16; one Capabilities parameter, 14
    01 04 0001 00 01 02 00 41 04 0000fde9`);
  const message = open({
    myAutonomousSystem: 65001,
    holdTimeSec: 180,
    bgpIdentifier: 0xc0000201,
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: 65001 }],
  });
  t.deepEqual(decodeOpen(split), message);
  t.deepEqual(decodeOpen(joined), message);
  t.deepEqual(encodeOpen(message), joined);
});

test('RFC 9072 §3: a Non-Ext OP Len other than 255 with a first type of 255 is still the extended form', (t) => {
  const odd = hex(`${MARKER}
    0031 01 04 5ba0 00b4 0a000001
    14                    # Non-Ext OP Len 20: not 255, ignored
    ff 0011               # Non-Ext OP Type 255, Extended Opt. Parm. Length 17
    02 000e ${FOUR_OCTET_AS_CAPABILITIES}`);
  t.deepEqual(decodeOpen(odd), EXTENDED.message);
  t.deepEqual(encodeOpen(EXTENDED.message), EXTENDED.wire);
});

test('parameters too long for one-octet lengths switch to the RFC 9072 form (§2)', (t) => {
  // 50 multiprotocol capabilities: 300 octets.
  const capabilities = Array.from({ length: 50 }, (_, i) => ({ code: 1 as const, afi: 1, safi: i + 1 }));
  const message = open({ myAutonomousSystem: 65000, holdTimeSec: 90, bgpIdentifier: 1, capabilities });
  const wire = encodeOpen(message);
  t.is(wire.length, 19 + 9 + 4 + 3 + 300);
  t.deepEqual([...wire.subarray(28, 30)], [0xff, 0xff], 'Non-Ext OP Len and Type');
  t.is(wire.readUInt16BE(30), 303, 'Extended Opt. Parm. Length');
  t.is(wire[32], 2, 'Capabilities parameter');
  t.is(wire.readUInt16BE(33), 300, '2-octet Parameter Length');
  t.deepEqual(decodeOpen(wire), { ...message, extendedParameters: true });
});

test('the one-octet form is used up to an Optional Parameters Length of 255', (t) => {
  const mp = Array.from({ length: 41 }, (_, i) => ({ code: 1 as const, afi: 1, safi: i + 1 })); // 246 octets
  const fill = (n: number) => ({ code: 200, unknown: true as const, value: new Uint8Array(n) });
  const base = { myAutonomousSystem: 65000, holdTimeSec: 90, bgpIdentifier: 1 };
  const fits = encodeOpen(open({ ...base, capabilities: [...mp, fill(5)] })); // 253 + 2 = 255
  t.deepEqual([...fits.subarray(28, 30)], [255, 2], 'Optional Parameters Length 255, then type 2');
  t.false(decodeOpen(fits).extendedParameters);
  const overflows = encodeOpen(open({ ...base, capabilities: [...mp, fill(6)] })); // 254 + 2 = 256
  t.deepEqual([...overflows.subarray(28, 30)], [255, 255]);
  t.true(decodeOpen(overflows).extendedParameters);
});

test('an OPEN that cannot fit 4096 octets is refused', (t) => {
  const capabilities = Array.from({ length: 20 }, () => ({
    code: 200,
    unknown: true as const,
    value: new Uint8Array(250),
  }));
  const message = open({ myAutonomousSystem: 65000, holdTimeSec: 90, bgpIdentifier: 1, capabilities });
  t.throws(() => encodeOpen(message), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------------
// Malformed corpus: each case names the NOTIFICATION it must produce.

const FIXED = 'fde8 00b4 c0000201'; // AS 65000, Hold Time 180 s, BGP Identifier 192.0.2.1

const MALFORMED: [name: string, wire: Buffer, code: number, subcode: number, data: string][] = [
  // §6.2: data is the largest supported version below the peer's bid, or the smallest: 4 either way.
  ['version 3', rawOpen(`03 ${FIXED} 00`), 2, 1, '0004'],
  ['version 5, checked before everything else', rawOpen('05 0000 0001 00000000 ff 0102'), 2, 1, '0004'],
  ['My Autonomous System 0 (RFC 7607 §2)', rawOpen('04 0000 00b4 c0000201 00'), 2, 2, ''],
  [
    '4-octet AS capability announcing AS 0 (RFC 7607 §2)',
    rawOpen(`04 5ba0 00b4 c0000201 08 02 06 41 04 00000000`),
    2,
    2,
    '',
  ],
  ['Hold Time 1 s (§6.2)', rawOpen('04 fde8 0001 c0000201 00'), 2, 6, ''],
  ['Hold Time 2 s (§6.2)', rawOpen('04 fde8 0002 c0000201 00'), 2, 6, ''],
  ['BGP Identifier 0 (RFC 6286 §2.2)', rawOpen('04 fde8 00b4 00000000 00'), 2, 3, ''],
  [
    'Optional Parameters Length overrunning the message',
    rawOpen(`04 ${FIXED} 0a 02 06 01 04 0001 00 01`),
    2,
    0,
    '',
  ],
  [
    'Optional Parameters Length short of the message',
    rawOpen(`04 ${FIXED} 06 02 06 01 04 0001 00 01`),
    2,
    0,
    '',
  ],
  ['Optional Parameters Length with nothing after it', rawOpen(`04 ${FIXED} 02`), 2, 0, ''],
  [
    'parameter overrunning the Optional Parameters',
    rawOpen(`04 ${FIXED} 08 02 07 01 04 0001 00 01`),
    2,
    0,
    '',
  ],
  ['parameter header cut after its type', rawOpen(`04 ${FIXED} 09 02 06 01 04 0001 00 01 02`), 2, 0, ''],
  ['capability overrunning its parameter', rawOpen(`04 ${FIXED} 08 02 06 01 05 0001 00 01`), 2, 0, ''],
  ['multiprotocol capability of 3 octets', rawOpen(`04 ${FIXED} 07 02 05 01 03 0001 01`), 2, 0, ''],
  ['extended form: length field cut short', rawOpen(`04 ${FIXED} 01 ff 00`), 2, 0, ''],
  [
    'extended form: Extended Opt. Parm. Length 10, 9 octets follow',
    rawOpen(`04 ${FIXED} ff ff 000a 02 0006 01 04 0001 00 01`),
    2,
    0,
    '',
  ],
  [
    'extended form: 2-octet Parameter Length overrunning',
    rawOpen(`04 ${FIXED} ff ff 0009 02 0007 01 04 0001 00 01`),
    2,
    0,
    '',
  ],
  ['extended form: parameter header cut short', rawOpen(`04 ${FIXED} ff ff 0002 02 00`), 2, 0, ''],
  // The header check (§6.1) catches this first; decodeOpen() answers the same when called directly.
  ['shorter than 29 octets', rawOpen(`04 ${FIXED}`), 1, 2, '001c'],
];

for (const [name, wire, code, subcode, data] of MALFORMED) {
  test(`malformed OPEN → ${code}/${subcode}: ${name}`, (t) => {
    const error = t.throws(() => decodeOpen(wire), { instanceOf: BgpError });
    t.is(error?.code, code);
    t.is(error?.subcode, subcode);
    t.deepEqual(Buffer.from(error?.data ?? []).toString('hex'), data);
  });
}

test('legal edge cases decode: Hold Time 3, repeated and empty Capabilities parameters', (t) => {
  t.is(decodeOpen(rawOpen('04 fde8 0003 c0000201 00')).holdTimeSec, 3);
  const repeated = decodeOpen(rawOpen(`04 ${FIXED} 0a 02 00 02 02 02 00 02 02 02 00`));
  t.deepEqual(repeated.capabilities, [{ code: 2 }, { code: 2 }]);
});

// ---------------------------------------------------------------------------------------------------
// Independent check with tshark

test('tshark reads the golden OPENs as Brindle does', async (t) => {
  const decoded = await tsharkDecode(GOLDEN.map((g) => g.wire));
  GOLDEN.forEach(({ name, wire, message }, i) => {
    const fields = decoded[i];
    t.deepEqual(tsharkField(fields, 'bgp.type'), ['1'], name);
    t.deepEqual(tsharkField(fields, 'bgp.open.version'), [String(message.version)], name);
    t.deepEqual(tsharkField(fields, 'bgp.open.myas'), [String(message.myAutonomousSystem)], name);
    t.deepEqual(tsharkField(fields, 'bgp.open.holdtime'), [String(message.holdTimeSec)], name);
    t.deepEqual(tsharkField(fields, 'bgp.open.identifier'), [formatIpv4(message.bgpIdentifier)], name);
    t.deepEqual(tsharkField(fields, 'bgp.open.opt.len'), [String(wire[28])], name);
    if (message.extendedParameters) {
      // tshark 4.0 predates RFC 9072: it reads the marker as a parameter of type 255 and stops.
      t.is(tsharkField(fields, 'bgp.open.opt.param.type')[0], '255', name);
      return;
    }
    t.false(fields.malformed, name);
    const types = tsharkField(fields, 'bgp.cap.type');
    t.deepEqual(
      types,
      message.capabilities.map((c) => String(c.code)),
      name,
    );
    const as4 = message.capabilities.flatMap((c) => ('asn' in c ? [String(c.asn)] : []));
    t.deepEqual(tsharkField(fields, 'bgp.cap.4as'), as4, name);
    const others = message.unsupportedParameters.map((p) => String(p.type));
    t.deepEqual(
      tsharkField(fields, 'bgp.open.opt.param.type').filter((p) => p !== '2'),
      others,
      name,
    );
  });
});

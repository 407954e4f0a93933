// NOTIFICATION (RFC 4271 §4.5): every registered code/subcode both ways, the RFC 9003 shutdown
// communication (with UTF-8 truncation), the RFC 8538 Hard Reset and what it carries, data that must
// never make decoding throw, and tshark.

import test from 'ava';

import {
  callsForHardReset,
  decodeNotification,
  describeNotification,
  encodeNotification,
  hardReset,
  hardResetCause,
  isHardReset,
  notificationFromError,
  shutdownCommunicationData,
} from '../../../src/bgp/codec/notification.ts';
import { BgpError } from '../../../src/bgp/errors.ts';
import type { NotificationMessage } from '../../../src/bgp/types.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';

/** Golden bytes as commented hex: `#` starts a comment, whitespace is ignored. */
function hex(text: string): Buffer {
  const digits = text.replace(/#.*$/gm, '').replace(/\s+/g, '');
  if (!/^(?:[0-9a-f]{2})*$/i.test(digits)) throw new Error(`bad golden hex: ${digits}`);
  return Buffer.from(digits, 'hex');
}

const MARKER = 'ffffffffffffffffffffffffffffffff';

/** §4.5 layout: header (length 21 + data, type 3), Error code(1), Error subcode(1), Data. */
function notificationHex(code: number, subcode: number, data = ''): string {
  const length = 21 + data.replace(/\s+/g, '').length / 2;
  const octet = (n: number) => n.toString(16).padStart(2, '0');
  return `${MARKER} ${length.toString(16).padStart(4, '0')} 03 ${octet(code)} ${octet(subcode)} ${data}`;
}

function notification(
  code: number,
  subcode: number,
  data: string,
  communication?: string,
): NotificationMessage {
  const message: NotificationMessage = { type: 3, code, subcode, data: new Uint8Array(hex(data)) };
  return communication === undefined ? message : { ...message, shutdownCommunication: communication };
}

// Every code and subcode: RFC 4271 §4.5 and §6, RFC 4486 §4 (Cease), RFC 6608 §3 (FSM),
// RFC 7313 §5 (ROUTE-REFRESH), RFC 8538 §5 (Hard Reset), RFC 9384 (BFD Down), RFC 5492 §5 (2/7).
const REGISTERED: [code: number, subcode: number, name: string][] = [
  [1, 1, 'Message Header Error/Connection Not Synchronized'],
  [1, 2, 'Message Header Error/Bad Message Length'],
  [1, 3, 'Message Header Error/Bad Message Type'],
  [2, 0, 'OPEN Message Error'],
  [2, 1, 'OPEN Message Error/Unsupported Version Number'],
  [2, 2, 'OPEN Message Error/Bad Peer AS'],
  [2, 3, 'OPEN Message Error/Bad BGP Identifier'],
  [2, 4, 'OPEN Message Error/Unsupported Optional Parameter'],
  [2, 6, 'OPEN Message Error/Unacceptable Hold Time'],
  [2, 7, 'OPEN Message Error/Unsupported Capability'],
  [3, 1, 'UPDATE Message Error/Malformed Attribute List'],
  [3, 2, 'UPDATE Message Error/Unrecognized Well-known Attribute'],
  [3, 3, 'UPDATE Message Error/Missing Well-known Attribute'],
  [3, 4, 'UPDATE Message Error/Attribute Flags Error'],
  [3, 5, 'UPDATE Message Error/Attribute Length Error'],
  [3, 6, 'UPDATE Message Error/Invalid ORIGIN Attribute'],
  [3, 8, 'UPDATE Message Error/Invalid NEXT_HOP Attribute'],
  [3, 9, 'UPDATE Message Error/Optional Attribute Error'],
  [3, 10, 'UPDATE Message Error/Invalid Network Field'],
  [3, 11, 'UPDATE Message Error/Malformed AS_PATH'],
  [4, 0, 'Hold Timer Expired'],
  [5, 0, 'Finite State Machine Error/Unspecified Error'],
  [5, 1, 'Finite State Machine Error/Receive Unexpected Message in OpenSent State'],
  [5, 2, 'Finite State Machine Error/Receive Unexpected Message in OpenConfirm State'],
  [5, 3, 'Finite State Machine Error/Receive Unexpected Message in Established State'],
  [6, 1, 'Cease/Maximum Number of Prefixes Reached'],
  [6, 2, 'Cease/Administrative Shutdown'],
  [6, 3, 'Cease/Peer De-configured'],
  [6, 4, 'Cease/Administrative Reset'],
  [6, 5, 'Cease/Connection Rejected'],
  [6, 6, 'Cease/Other Configuration Change'],
  [6, 7, 'Cease/Connection Collision Resolution'],
  [6, 8, 'Cease/Out of Resources'],
  [6, 9, 'Cease/Hard Reset'],
  [6, 10, 'Cease/BFD Down'],
  [7, 1, 'ROUTE-REFRESH Message Error/Invalid Message Length'],
];

for (const [code, subcode, name] of REGISTERED) {
  test(`${code}/${subcode} ${name}: decode, encode, describe`, (t) => {
    const wire = hex(notificationHex(code, subcode));
    const message = notification(code, subcode, '');
    t.deepEqual(decodeNotification(wire), message);
    t.deepEqual(encodeNotification(message), wire);
    t.deepEqual(encodeNotification({ code, subcode }), wire);
    t.is(describeNotification(message), name);
  });
}

// ---------------------------------------------------------------------------------------------------
// Data

const WITH_DATA: [name: string, wire: string, message: NotificationMessage, described: string][] = [
  [
    'Unsupported Version Number with the version Brindle speaks',
    `${MARKER} 0017 03   # length 23, NOTIFICATION
     02 01               # OPEN Message Error / Unsupported Version Number
     0004                # data: largest supported version, 4 (RFC 4271 §6.2)`,
    notification(2, 1, '0004'),
    'OPEN Message Error/Unsupported Version Number, data 00 04',
  ],
  [
    'Bad Message Length with the erroneous length',
    `${MARKER} 0017 03 01 02 1001   # Message Header Error / Bad Message Length, data 4097 (§6.1)`,
    notification(1, 2, '1001'),
    'Message Header Error/Bad Message Length, data 10 01',
  ],
  [
    'Unsupported Capability listing the capability',
    `${MARKER} 001b 03 02 07 01 04 0002 00 80   # 2/7 (RFC 5492 §5), data: multiprotocol AFI 2 SAFI 128`,
    notification(2, 7, '01 04 0002 00 80'),
    'OPEN Message Error/Unsupported Capability, data 01 04 00 02 00 80',
  ],
  [
    'Hard Reset wrapping Cease / Maximum Number of Prefixes Reached',
    `${MARKER} 0017 03 06 09 06 01   # 6/9 (RFC 8538 §5), data: the wrapped code and subcode`,
    notification(6, 9, '06 01'),
    'Cease/Hard Reset (Cease/Maximum Number of Prefixes Reached)',
  ],
  [
    'Hard Reset wrapping an Administrative Shutdown with its communication',
    `${MARKER} 001b 03 06 09   # length 27, Cease / Hard Reset (RFC 8538 §3)
     06 02                     # the wrapped NOTIFICATION: Cease / Administrative Shutdown
     03 627965                 # its data: RFC 9003 communication of 3 octets, "bye"`,
    notification(6, 9, '06 02 03 627965'),
    'Cease/Hard Reset (Cease/Administrative Shutdown "bye")',
  ],
  [
    'Hard Reset too short to carry a NOTIFICATION',
    `${MARKER} 0016 03 06 09 06   # one octet of data: no code and subcode to read`,
    notification(6, 9, '06'),
    'Cease/Hard Reset, data 06',
  ],
];

for (const [name, wire, message, described] of WITH_DATA) {
  test(`golden NOTIFICATION, ${name}`, (t) => {
    const golden = hex(wire);
    t.deepEqual(decodeNotification(golden), message);
    t.deepEqual(encodeNotification(message), golden);
    t.is(describeNotification(message), described);
  });
}

// ---------------------------------------------------------------------------------------------------
// RFC 8538 Hard Reset

test('hardReset() wraps a NOTIFICATION as RFC 8538 §3 lays it out; hardResetCause() reads it back', (t) => {
  const inner = { code: 6, subcode: 2, shutdownCommunication: 'bye' };
  const wrapped = hardReset(inner);
  t.deepEqual(encodeNotification(wrapped), hex(`${MARKER} 001b 03 06 09 06 02 03 627965`));
  t.deepEqual(hardResetCause(decodeNotification(encodeNotification(wrapped))), {
    code: 6,
    subcode: 2,
    data: new Uint8Array(hex('03 627965')),
    shutdownCommunication: 'bye',
  });
  t.deepEqual(hardResetCause(hardReset({ code: 6, subcode: 3 })), {
    code: 6,
    subcode: 3,
    data: new Uint8Array(0),
  });
  t.is(hardResetCause({ code: 6, subcode: 2 }), undefined);
  t.is(hardResetCause({ code: 6, subcode: 9 }), undefined);
  t.true(isHardReset(wrapped));
  t.false(isHardReset({ code: 4, subcode: 0 }));
});

test('RFC 8538 §5.1: the Cease subcodes that go as a Hard Reset once the N bit is negotiated', (t) => {
  const hard = [1, 2, 3, 9];
  for (let subcode = 0; subcode <= 11; subcode++)
    t.is(callsForHardReset(6, subcode), hard.includes(subcode), `Cease subcode ${subcode}`);
  // Only Cease: an error the peer caused (hold timer, UPDATE error, FSM error) keeps graceful restart.
  for (const code of [1, 2, 3, 4, 5, 7, 8]) t.false(callsForHardReset(code, 2), `code ${code}`);
});

test('notificationFromError sends the error code, subcode and data', (t) => {
  const error = new BgpError(2, 1, 'version 3', Uint8Array.of(0, 4));
  t.deepEqual(notificationFromError(error), hex(`${MARKER} 0017 03 02 01 0004`));
  t.deepEqual(notificationFromError(new BgpError(4, 0, 'hold timer')), hex(`${MARKER} 0015 03 04 00`));
});

test('data longer than a 4096-octet message is truncated', (t) => {
  const wire = encodeNotification({ code: 3, subcode: 5, data: new Uint8Array(5000).fill(7) });
  t.is(wire.length, 4096);
  t.is(wire.readUInt16BE(16), 4096);
  t.is(decodeNotification(wire).data.length, 4096 - 21);
});

test('describeNotification shortens long data', (t) => {
  const data = new Uint8Array(40);
  t.is(
    describeNotification({ code: 3, subcode: 1, data }),
    `UPDATE Message Error/Malformed Attribute List, data ${'00 '.repeat(31)}00 … (40 octets)`,
  );
  t.is(describeNotification({ code: 9, subcode: 9 }), 'Unknown error code 9/subcode 9');
});

// ---------------------------------------------------------------------------------------------------
// RFC 9003 shutdown communication

const COMMUNICATIONS: [name: string, wire: string, message: NotificationMessage][] = [
  [
    'Administrative Shutdown "maintenance window"',
    `${MARKER} 0028 03   # length 40, NOTIFICATION
     06 02               # Cease / Administrative Shutdown
     12                  # Shutdown Communication Length 18 (RFC 9003 §2)
     6d61696e74656e616e63652077696e646f77   # "maintenance window"`,
    notification(6, 2, '12 6d61696e74656e616e63652077696e646f77', 'maintenance window'),
  ],
  [
    'Administrative Reset with multi-byte UTF-8',
    `${MARKER} 0023 03 06 04      # length 35, Cease / Administrative Reset
     0d                           # Shutdown Communication Length 13: octets, not characters
     5374 c3b6 72756e67 20 35 e282ac   # "Störung 5€": ö is c3 b6, € is e2 82 ac`,
    notification(6, 4, '0d 5374c3b672756e672035e282ac', 'Störung 5€'),
  ],
];

for (const [name, wire, message] of COMMUNICATIONS) {
  test(`golden shutdown communication: ${name}`, (t) => {
    const golden = hex(wire);
    t.deepEqual(decodeNotification(golden), message);
    t.deepEqual(encodeNotification(message), golden);
    const { code, subcode, shutdownCommunication } = message;
    t.deepEqual(encodeNotification({ code, subcode, shutdownCommunication }), golden);
  });
}

test('describeNotification quotes the communication', (t) => {
  const message = decodeNotification(hex(COMMUNICATIONS[0][1]));
  t.is(describeNotification(message), 'Cease/Administrative Shutdown "maintenance window"');
  t.is(
    describeNotification({ code: 6, subcode: 2, shutdownCommunication: 'line 1\n"quoted"' }),
    'Cease/Administrative Shutdown "line 1\\n\\"quoted\\""',
  );
});

// RFC 9003 §2: at most 255 octets, cut here on a character boundary.
const TRUNCATIONS: [name: string, text: string, kept: string][] = [
  ['ASCII', 'x'.repeat(300), 'x'.repeat(255)],
  ['2-octet characters (é): 128 × 2 = 256 octets', 'é'.repeat(128), 'é'.repeat(127)],
  ['3-octet characters (€): 86 × 3 = 258 octets', '€'.repeat(86), '€'.repeat(85)],
  ['4-octet characters (🙂): 64 × 4 = 256 octets', '🙂'.repeat(64), '🙂'.repeat(63)],
  ['a 3-octet character across octet 255', 'a' + '€'.repeat(85), 'a' + '€'.repeat(84)],
  ['exactly 255 octets', 'a'.repeat(252) + '€', 'a'.repeat(252) + '€'],
];

for (const [name, text, kept] of TRUNCATIONS) {
  test(`shutdown communication truncated to 255 octets: ${name}`, (t) => {
    const data = shutdownCommunicationData(text);
    const keptBytes = Buffer.from(kept, 'utf8');
    t.true(keptBytes.length <= 255);
    t.is(data[0], keptBytes.length);
    t.deepEqual(Buffer.from(data.subarray(1)), keptBytes);
    const wire = encodeNotification({ code: 6, subcode: 2, shutdownCommunication: text });
    t.is(decodeNotification(wire).shutdownCommunication, kept);
  });
}

// Malformed communications are not errors (RFC 9003 §4: logged only): no text, data kept raw.
const NO_COMMUNICATION: [name: string, code: number, subcode: number, data: string][] = [
  ['length overrunning the data', 6, 2, '05 6162'],
  ['length short of the data', 6, 2, '01 6162'],
  ['invalid UTF-8', 6, 4, '02 c328'],
  ['length 0: no communication', 6, 2, '00'],
  ['no data at all', 6, 2, ''],
  ['a communication-shaped data on another subcode', 6, 3, '02 6162'],
  ['a communication-shaped data on another code', 2, 2, '02 6162'],
];

for (const [name, code, subcode, data] of NO_COMMUNICATION) {
  test(`no shutdown communication: ${name}`, (t) => {
    const wire = hex(notificationHex(code, subcode, data));
    const decoded = decodeNotification(wire);
    t.deepEqual(decoded, notification(code, subcode, data));
    t.false('shutdownCommunication' in decoded);
    t.deepEqual(encodeNotification(decoded), wire);
  });
}

test('a shutdown communication is only built for Cease 2 and 4', (t) => {
  t.deepEqual(
    encodeNotification({ code: 6, subcode: 3, shutdownCommunication: 'ignored' }),
    hex(notificationHex(6, 3)),
  );
});

test('decoding never throws, whatever the data (RFC 4271 §6.4: no NOTIFICATION for a NOTIFICATION)', (t) => {
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const length = 19 + (i % 40); // includes messages cut before the code and the subcode
    const wire = Buffer.alloc(length, 0xff);
    for (let j = 19; j < length; j++) wire[j] = random();
    if (i % 3 === 0 && length > 21) wire[19] = 6; // many Cease 2/4 with random communications
    if (i % 3 === 0 && length > 21) wire[20] = i % 2 === 0 ? 2 : 4;
    t.notThrows(() => describeNotification(decodeNotification(wire)));
  }
  t.deepEqual(decodeNotification(hex(`${MARKER} 0013 03`)), notification(0, 0, ''));
});

// ---------------------------------------------------------------------------------------------------
// Independent check with tshark

/** tshark names the subcode field after the error code. */
const SUBCODE_FIELDS: Record<number, string> = {
  1: 'bgp.notify.minor_error',
  2: 'bgp.notify.minor_error_open',
  3: 'bgp.notify.minor_error_update',
  4: 'bgp.notify.minor_error_expired',
  5: 'bgp.notify.minor_error_state',
  6: 'bgp.notify.minor_error_cease',
  7: 'bgp.notify.minor_error_capability',
};

test('tshark reads every golden NOTIFICATION as Brindle does', async (t) => {
  const goldens = [
    ...REGISTERED.map(([code, subcode]) => hex(notificationHex(code, subcode))),
    ...WITH_DATA.map(([, wire]) => hex(wire)),
    ...COMMUNICATIONS.map(([, wire]) => hex(wire)),
  ];
  const decoded = await tsharkDecode(goldens);
  goldens.forEach((wire, i) => {
    const ours = decodeNotification(wire);
    const theirs = decoded[i];
    const what = `${ours.code}/${ours.subcode}`;
    t.deepEqual(tsharkField(theirs, 'bgp.type'), ['3'], what);
    t.deepEqual(tsharkField(theirs, 'bgp.notify.major_error'), [String(ours.code)], what);
    t.deepEqual(tsharkField(theirs, SUBCODE_FIELDS[ours.code]), [String(ours.subcode)], what);
    if (ours.shutdownCommunication !== undefined) {
      t.deepEqual(tsharkField(theirs, 'bgp.notify.communication'), [ours.shutdownCommunication], what);
      t.deepEqual(tsharkField(theirs, 'bgp.notify.communication_length'), [String(ours.data[0])], what);
    }
  });
});

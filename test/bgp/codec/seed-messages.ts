// Well-formed messages built from hex by hand (lengths computed here, contents written from the RFC
// layouts, no codec involved): seeds for the mutation test and the malformed corpus.

export function message(type: number, bodyHex: string): Buffer {
  const body = Buffer.from(bodyHex.replace(/\s+/g, ''), 'hex');
  const out = Buffer.alloc(19 + body.length, 0xff);
  out.writeUInt16BE(out.length, 16);
  out[18] = type;
  body.copy(out, 19);
  return out;
}

/** One path attribute; the Extended Length flag (0x10) in `flags` selects a 2-octet length. */
export function attr(flags: number, type: number, valueHex: string): string {
  const value = valueHex.replace(/\s+/g, '');
  const length = value.length / 2;
  const lengthHex =
    flags & 0x10 ? length.toString(16).padStart(4, '0') : length.toString(16).padStart(2, '0');
  return flags.toString(16).padStart(2, '0') + type.toString(16).padStart(2, '0') + lengthHex + value;
}

function u16(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** UPDATE body from withdrawn-routes hex, attribute hex and NLRI hex. */
export function update(withdrawnHex: string, attributesHex: string, nlriHex: string): Buffer {
  return message(
    2,
    u16(withdrawnHex.length / 2) + withdrawnHex + u16(attributesHex.length / 2) + attributesHex + nlriHex,
  );
}

export const ORIGIN_IGP = attr(0x40, 1, '00');
export const AS_PATH_4 = attr(0x40, 2, '02 03 0000fde8 0000fde9 fa56ea01'); // SEQ 65000 65001 4200000001
export const AS_PATH_2 = attr(0x40, 2, '02 02 fde8 5ba0'); // SEQ 65000 AS_TRANS
export const AS4_PATH = attr(0xc0, 17, '02 02 0000fde8 fa56ea01');
export const NEXT_HOP = attr(0x40, 3, 'c0000201');
export const MED = attr(0x80, 4, '00000064');
export const LOCAL_PREF = attr(0x40, 5, '000000c8');
export const ATOMIC_AGGREGATE = attr(0x40, 6, '');
export const AGGREGATOR_4 = attr(0xc0, 7, '0000fde8 c0000201');
export const COMMUNITIES = attr(0xc0, 8, 'fde80064 ffffff01');
export const ORIGINATOR_ID = attr(0x80, 9, '0a000001');
export const CLUSTER_LIST = attr(0x80, 10, '0a0000fe 0a0000fd');
export const EXT_COMMUNITIES = attr(0xc0, 16, '0002fde800000064');
export const LARGE_COMMUNITY = attr(0xc0, 32, 'fa56ea01 00000001 00000002');
export const UNKNOWN_TRANSITIVE = attr(0xc0, 99, 'deadbeef');
export const MP_REACH_V6 = attr(
  0x90,
  14,
  '0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 40 20010db800010002 30 20010db80002',
);
export const MP_UNREACH_V6 = attr(0x90, 15, '0002 01 40 20010db800010002');
export const MP_REACH_V4 = attr(0x90, 14, '0001 01 04 c0000201 00 18 0a0001');

const CAPS =
  '02 06 01 04 0001 0001' + // MP IPv4 unicast
  '02 06 01 04 0002 0001' + // MP IPv6 unicast
  '02 02 02 00' + // route refresh
  '02 02 46 00' + // enhanced route refresh
  '02 02 06 00' + // extended message
  '02 06 41 04 fa56ea01' + // 4-octet AS 4200000001
  '02 0a 45 08 0001 01 03 0002 01 03' + // ADD-PATH both families, send+receive
  '02 08 40 06 0078 0001 01 80' + // graceful restart 120 s, IPv4 unicast forwarding preserved
  '02 0a 49 08 05 6e6f646531 01 78'; // FQDN "node1" "x"

export const SEED_MESSAGES: { name: string; bytes: Buffer }[] = [
  {
    name: 'OPEN',
    bytes: message(
      1,
      `04 5ba0 005a 0a000001 ${(CAPS.replace(/ /g, '').length / 2).toString(16).padStart(2, '0')} ${CAPS}`,
    ),
  },
  { name: 'KEEPALIVE', bytes: message(4, '') },
  { name: 'NOTIFICATION cease', bytes: message(3, '06 02 0b 6d61696e74656e616e6365') },
  { name: 'NOTIFICATION open', bytes: message(3, '02 02 fde8') },
  { name: 'ROUTE-REFRESH', bytes: message(5, '0001 00 01') },
  { name: 'ROUTE-REFRESH BoRR', bytes: message(5, '0002 01 01') },
  {
    name: 'UPDATE ipv4 full',
    bytes: update(
      '180a0002',
      ORIGIN_IGP +
        AS_PATH_4 +
        NEXT_HOP +
        MED +
        LOCAL_PREF +
        ATOMIC_AGGREGATE +
        AGGREGATOR_4 +
        COMMUNITIES +
        ORIGINATOR_ID +
        CLUSTER_LIST +
        EXT_COMMUNITIES +
        LARGE_COMMUNITY +
        UNKNOWN_TRANSITIVE,
      '180a0001 1a0af40140 20c0000202',
    ),
  },
  {
    name: 'UPDATE 2-octet with AS4_PATH',
    bytes: update('', ORIGIN_IGP + AS_PATH_2 + NEXT_HOP + AS4_PATH, '180a0001'),
  },
  {
    name: 'UPDATE ipv6',
    bytes: update('', MP_REACH_V6 + ORIGIN_IGP + AS_PATH_4 + LOCAL_PREF + COMMUNITIES, ''),
  },
  { name: 'UPDATE ipv6 withdraw', bytes: update('', MP_UNREACH_V6, '') },
  { name: 'UPDATE ipv4 in MP_REACH', bytes: update('', MP_REACH_V4 + ORIGIN_IGP + AS_PATH_4, '') },
  { name: 'UPDATE withdraw only', bytes: update('180a0001 180a0002', '', '') },
  { name: 'End-of-RIB ipv4', bytes: update('', '', '') },
  { name: 'End-of-RIB ipv6', bytes: update('', attr(0x80, 15, '0002 01'), '') },
];

// rtnetlink encoding and decoding (netlink.ts): golden bytes written out field by field, checked both
// ways, and against an independent decoder — tshark's netlink-route dissector reads our datagrams from a
// LINKTYPE_NETLINK pcap. The kernel's own verdict on these messages is in kernel.test.ts.
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parsePrefix } from '../../src/lib/prefix.ts';
import type { Prefix } from '../../src/lib/prefix.ts';
import {
  decodeAddress,
  decodeError,
  decodeLink,
  decodeRoute,
  errnoName,
  forEachMessage,
  MessageWriter,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RTM_DELROUTE,
  RTM_NEWROUTE,
  RTN_BLACKHOLE,
  RTN_UNICAST,
  RTN_UNSPEC,
  RTNH_F_ONLINK,
  writeRouteDumpRequest,
  writeRouteMessage,
} from '../../src/fib/netlink.ts';
import type { KernelRoute } from '../../src/fib/netlink.ts';

const execFileAsync = promisify(execFile);

function prefix(text: string): Prefix {
  return parsePrefix(text) as Prefix;
}

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+|\/\/[^\n]*/g, ''), 'hex');
}

function route(fields: Partial<KernelRoute> & { prefix: Prefix }): KernelRoute {
  return {
    table: 100,
    protocol: 196,
    type: RTN_UNICAST,
    scope: RT_SCOPE_UNIVERSE,
    metric: 0,
    nextHops: [],
    ...fields,
  };
}

function encode(
  type: typeof RTM_NEWROUTE | typeof RTM_DELROUTE,
  flags: number,
  seq: number,
  r: KernelRoute,
): Buffer {
  const w = new MessageWriter(16); // small on purpose: growth is exercised too
  writeRouteMessage(w, type, flags, seq, r);
  return Buffer.from(w.datagram());
}

const ADD = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;

// 10.9.0.0/24 via 10.0.0.2 dev ifindex 3, table 100, proto 196, metric 20.
const UNICAST_V4 = hex(`
  44000000 1800 0506 07000000 00000000   // nlmsghdr: len 68, RTM_NEWROUTE, REQUEST|ACK|EXCL|CREATE, seq 7, pid 0
  02 18 00 00 64 c4 00 01 00000000       // rtmsg: AF_INET, dst_len 24, src 0, tos 0, table 100, proto 196, universe, unicast, flags 0
  0800 0100 0a090000                     // RTA_DST 10.9.0.0
  0800 0f00 64000000                     // RTA_TABLE 100 (u32)
  0800 0600 14000000                     // RTA_PRIORITY 20
  0800 0500 0a000002                     // RTA_GATEWAY 10.0.0.2
  0800 0400 03000000                     // RTA_OIF 3
`);

test('RTM_NEWROUTE, one IPv4 next hop: golden bytes both ways', (t) => {
  const r = route({
    prefix: prefix('10.9.0.0/24'),
    metric: 20,
    nextHops: [{ gateway: '10.0.0.2', ifindex: 3, flags: 0, weight: 1 }],
  });
  t.deepEqual(encode(RTM_NEWROUTE, ADD, 7, r).toString('hex'), UNICAST_V4.toString('hex'));
  t.deepEqual(decodeRoute(UNICAST_V4, 0, UNICAST_V4.length), r);
});

// 10.9.0.0/24 ECMP: via 10.0.0.2 (kernel picks the device), via 172.16.0.9 dev 5 onlink weight 2.
const MULTIPATH_V4 = hex(`
  50000000 1800 0105 01000000 00000000   // len 80, RTM_NEWROUTE, REQUEST|CREATE|REPLACE, seq 1
  02 18 00 00 64 c4 00 01 00000000
  0800 0100 0a090000                     // RTA_DST
  0800 0f00 64000000                     // RTA_TABLE
  2400 0900                              // RTA_MULTIPATH, 36 bytes
    1000 00 00 00000000                  //   rtnexthop: len 16, flags 0, hops 0 (weight 1), ifindex 0
    0800 0500 0a000002                   //   RTA_GATEWAY 10.0.0.2
    1000 04 01 05000000                  //   rtnexthop: len 16, RTNH_F_ONLINK, hops 1 (weight 2), ifindex 5
    0800 0500 ac100009                   //   RTA_GATEWAY 172.16.0.9
`);

test('RTA_MULTIPATH: rtnexthop per path with its RTA_GATEWAY, onlink and weight', (t) => {
  const r = route({
    prefix: prefix('10.9.0.0/24'),
    nextHops: [
      { gateway: '10.0.0.2', ifindex: 0, flags: 0, weight: 1 },
      { gateway: '172.16.0.9', ifindex: 5, flags: RTNH_F_ONLINK, weight: 2 },
    ],
  });
  const flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
  t.is(encode(RTM_NEWROUTE, flags, 1, r).toString('hex'), MULTIPATH_V4.toString('hex'));
  t.deepEqual(decodeRoute(MULTIPATH_V4, 0, MULTIPATH_V4.length), r);
});

test('IPv6 unicast with onlink in rtm_flags, IPv6 blackhole, a table above 255: round trips', (t) => {
  for (const r of [
    route({
      prefix: prefix('2001:db8:9::/48'),
      nextHops: [{ gateway: 'fe80::1', ifindex: 4, flags: RTNH_F_ONLINK, weight: 1 }],
    }),
    route({ prefix: prefix('2001:db8:a::/64'), type: RTN_BLACKHOLE, metric: 1024 }),
    route({
      prefix: prefix('0.0.0.0/0'),
      table: 1000,
      nextHops: [{ gateway: '10.0.0.1', ifindex: 0, flags: 0, weight: 1 }],
    }),
  ]) {
    const bytes = encode(RTM_NEWROUTE, ADD, 9, r);
    t.deepEqual(decodeRoute(bytes, 0, bytes.length), r);
  }
  const big = encode(RTM_NEWROUTE, ADD, 9, route({ prefix: prefix('10.0.0.0/8'), table: 1000 }));
  t.is(big[16 + 4], 0, 'rtm_table is RT_TABLE_UNSPEC; the id travels in RTA_TABLE');
  const single = encode(
    RTM_NEWROUTE,
    ADD,
    9,
    route({
      prefix: prefix('10.0.0.0/8'),
      nextHops: [{ ifindex: 2, flags: RTNH_F_ONLINK, weight: 1, gateway: '10.1.1.1' }],
    }),
  );
  t.is(single.readUInt32LE(16 + 8), RTNH_F_ONLINK, 'one next hop: onlink goes in rtm_flags');
});

test('RTM_DELROUTE names our protocol and matches any scope and type', (t) => {
  const r = route({ prefix: prefix('10.9.0.0/24'), type: RTN_UNSPEC, scope: RT_SCOPE_NOWHERE, metric: 0 });
  const bytes = encode(RTM_DELROUTE, NLM_F_REQUEST, 3, r);
  t.is(
    bytes.toString('hex'),
    hex(`
      2c000000 1900 0100 03000000 00000000 // len 44, RTM_DELROUTE, REQUEST (the batch fence adds ACK), seq 3
      02 18 00 00 64 c4 ff 00 00000000     // proto 196, scope NOWHERE, type UNSPEC
      0800 0100 0a090000 0800 0f00 64000000
    `).toString('hex'),
  );
});

test('a route dump request sets only what strict checking allows: family, table, protocol, RTA_TABLE', (t) => {
  const w = new MessageWriter();
  writeRouteDumpRequest(w, 5, 6, { table: 100, protocol: 196 });
  t.is(
    w.datagram().toString('hex'),
    hex(`
      24000000 1a00 0103 05000000 00000000 // len 36, RTM_GETROUTE, REQUEST|DUMP
      0a 00 00 00 64 c4 00 00 00000000     // AF_INET6, table 100, proto 196, everything else 0
      0800 0f00 64000000
    `).toString('hex'),
  );
});

async function tsharkFields(datagram: Buffer, fields: string[]): Promise<string[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'brindle-nl-'));
  try {
    // pcap, LINKTYPE_NETLINK (253): a 16-byte cooked header (ARPHRD_NETLINK 824, family NETLINK_ROUTE 0).
    const global = Buffer.alloc(24);
    global.writeUInt32LE(0xa1b2c3d4, 0);
    global.writeUInt16LE(2, 4);
    global.writeUInt16LE(4, 6);
    global.writeUInt32LE(65535, 16);
    global.writeUInt32LE(253, 20);
    const cooked = Buffer.alloc(16);
    cooked.writeUInt16BE(4, 0);
    cooked.writeUInt16BE(824, 2);
    const record = Buffer.alloc(16);
    record.writeUInt32LE(16 + datagram.length, 8);
    record.writeUInt32LE(16 + datagram.length, 12);
    const file = join(dir, 'nl.pcap');
    await writeFile(file, Buffer.concat([global, record, cooked, datagram]));
    const args = ['-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=;'];
    const { stdout } = await execFileAsync('tshark', [...args, ...fields.flatMap((f) => ['-e', f])]);
    return stdout
      .trim()
      .split('\t')
      .map((column) => column.split(';'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('tshark reads a batch datagram as we mean it: three routes, consecutive seqs, ACK only on the last', async (t) => {
  const w = new MessageWriter();
  const v4 = route({
    prefix: prefix('10.9.0.0/24'),
    metric: 20,
    nextHops: [{ gateway: '10.0.0.2', ifindex: 3, flags: 0, weight: 1 }],
  });
  const v6 = route({
    prefix: prefix('2001:db8:9::/48'),
    nextHops: [{ gateway: '2001:db8::2', ifindex: 0, flags: 0, weight: 1 }],
  });
  const flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
  writeRouteMessage(w, RTM_NEWROUTE, flags, 41, v4);
  writeRouteMessage(w, RTM_NEWROUTE, flags, 42, v6);
  writeRouteMessage(
    w,
    RTM_DELROUTE,
    NLM_F_REQUEST,
    43,
    route({ prefix: prefix('10.8.0.0/16'), type: RTN_UNSPEC, scope: RT_SCOPE_NOWHERE }),
  );
  w.flagLast(NLM_F_ACK);
  const [lengths, types, headerFlags, seqs, families, dstLens, tables, protocols, attrTypes, attrData] =
    await tsharkFields(w.datagram(), [
      'netlink.hdr_len',
      'netlink-route.nltype',
      'netlink.hdr_flags',
      'netlink.hdr_seq',
      'netlink-route.rt_family',
      'netlink-route.rt_dst_len',
      'netlink-route.rt_table',
      'netlink-route.rt_protocol',
      'netlink-route.rta_attr_type',
      'netlink.attr_data',
    ]);
  t.deepEqual(lengths, ['68', '76', '44']);
  t.deepEqual(types, ['24', '24', '25']);
  // tshark shows a NEW request's flags twice (read as GET flags, then as NEW flags).
  t.deepEqual(headerFlags, ['0x0601', '0x0601', '0x0601', '0x0601', '0x0005']);
  t.deepEqual(seqs, ['41', '42', '43']);
  t.deepEqual(families, ['2', '10', '2']);
  t.deepEqual(dstLens, ['24', '48', '16']);
  t.deepEqual(tables, ['100', '100', '100']);
  t.deepEqual(protocols, ['0xc4', '0xc4', '0xc4']);
  t.deepEqual(attrTypes, ['1', '15', '6', '5', '4', '1', '15', '5', '1', '15']);
  // Raw data of each attribute tshark does not decode itself (it shows RTA_OIF as an interface index).
  t.deepEqual(attrData, [
    '0a090000', // RTA_DST 10.9.0.0
    '64000000', // RTA_TABLE 100
    '14000000', // RTA_PRIORITY 20
    '0a000002', // RTA_GATEWAY 10.0.0.2
    '20010db8000900000000000000000000', // RTA_DST 2001:db8:9::
    '64000000',
    '20010db8000000000000000000000002', // RTA_GATEWAY 2001:db8::2
    '0a080000', // RTA_DST 10.8.0.0
    '64000000',
  ]);
});

test('NLMSG_ERROR: an ACK, an error carrying the request and an extended-ack message, a capped one', (t) => {
  const ack = hex('24000000 0200 0001 07000000 39300000 00000000 34000000 1800 0506 07000000 00000000');
  t.deepEqual(decodeError(ack, 0, ack.length, 0x100), { errno: 0 });
  // error -101 (ENETUNREACH), the whole 52-byte request echoed, then NLMSGERR_ATTR_MSG.
  const request = Buffer.alloc(52);
  request.writeUInt32LE(52, 0);
  const message = Buffer.from('Nexthop has invalid gateway\0');
  const tlv = Buffer.alloc(4 + 28);
  tlv.writeUInt16LE(4 + message.length, 0);
  tlv.writeUInt16LE(1, 2);
  message.copy(tlv, 4);
  const error = Buffer.concat([hex('00000000 0200 0002 07000000 00000000 9bffffff'), request, tlv]);
  error.writeUInt32LE(error.length, 0);
  const flags = NLM_F_ACK_TLVS;
  t.deepEqual(decodeError(error, 0, error.length, flags), {
    errno: 101,
    message: 'Nexthop has invalid gateway',
  });
  t.is(errnoName(101), 'ENETUNREACH');
  const capped = Buffer.concat([
    hex('00000000 0200 0003 07000000 00000000 edffffff'),
    request.subarray(0, 16),
    tlv,
  ]);
  capped.writeUInt32LE(capped.length, 0);
  t.deepEqual(decodeError(capped, 0, capped.length, NLM_F_CAPPED | NLM_F_ACK_TLVS), {
    errno: 19,
    message: 'Nexthop has invalid gateway',
  });
  t.is(errnoName(19), 'ENODEV');
  const done = hex('14000000 0300 0200 05000000 00000000 feffffff');
  t.deepEqual(decodeError(done, 0, done.length, 2, NLMSG_DONE), { errno: 2 });
});

test('forEachMessage walks a datagram and stops at a truncated message', (t) => {
  const two = Buffer.concat([
    hex('14000000 0300 0200 05000000 00000000 00000000'),
    hex('24000000 0200 0000 06000000 00000000 00000000 10000000 1800 0000 06000000 00000000'),
    hex('ff000000 0200'),
  ]);
  const seen: [number, number, number][] = [];
  forEachMessage(two, two.length, (type, _flags, seq, offset) => seen.push([type, seq, offset]));
  t.deepEqual(seen, [
    [NLMSG_DONE, 5, 0],
    [NLMSG_ERROR, 6, 20],
  ]);
});

test('RTM_NEWLINK and RTM_NEWADDR: name, ifindex, flags; address and prefix length', (t) => {
  const link = hex(`
    28000000 1000 0000 00000000 00000000
    00 00 0100 07000000 43100100 00000000  // ifinfomsg: ifindex 7, flags UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP
    0a00 0300 74756e6c 30000000            // IFLA_IFNAME "tunl0\\0" (padded)
  `);
  t.deepEqual(decodeLink(link, 0, link.length), { ifindex: 7, name: 'tunl0', flags: 0x11043 });
  const address = hex(`
    28000000 1400 0000 00000000 00000000
    02 18 80 00 03000000                   // ifaddrmsg: AF_INET, /24, permanent, universe, ifindex 3
    0800 0100 0a000001                     // IFA_ADDRESS
    0800 0200 0a000001                     // IFA_LOCAL
  `);
  t.deepEqual(decodeAddress(address, 0, address.length), {
    ifindex: 3,
    family: 4,
    address: '10.0.0.1',
    prefixLength: 24,
  });
});

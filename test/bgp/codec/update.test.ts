// UPDATE as a whole: golden messages both ways and against tshark, End-of-RIB, the field-level
// RFC 7606 cases, and the packer's promise (as few UPDATEs as fit, never one over the limit).
import test from 'ava';
import { decodeUpdate, encodeEndOfRib, encodeUpdate, endOfRibFamily } from '../../../src/bgp/codec/update.ts';
import type { UpdateContent } from '../../../src/bgp/codec/update.ts';
import { encodeAttributeSet, UpdatePacker } from '../../../src/bgp/codec/update-packer.ts';
import { MessageFramer } from '../../../src/bgp/codec/framer.ts';
import { decodeMessage } from '../../../src/bgp/codec/message.ts';
import { AsPathSegmentType, Origin, UpdateSubcode } from '../../../src/bgp/constants.ts';
import { BgpError, ErrorAction } from '../../../src/bgp/errors.ts';
import type { CodecContext, PathAttributes, UpdateMessage } from '../../../src/bgp/types.ts';
import { Afi, IPV4_UNICAST, IPV6_UNICAST, Safi } from '../../../src/lib/family.ts';
import { formatPrefix, ipv4Prefix, ipv6Prefix, parsePrefix } from '../../../src/lib/prefix.ts';
import type { Nlri } from '../../../src/lib/prefix.ts';
import { tsharkDecode, tsharkField } from '../../helpers/tshark.ts';
import {
  attr,
  AS_PATH_4,
  LOCAL_PREF,
  MP_REACH_V6,
  MP_UNREACH_V6,
  NEXT_HOP,
  ORIGIN_IGP,
  update,
} from './seed-messages.ts';

const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };
const ADD_PATH: CodecContext = { ...CTX, addPath: new Set([IPV4_UNICAST, IPV6_UNICAST]) };

const ATTRS: PathAttributes = {
  origin: Origin.Igp,
  asPath: [{ type: AsPathSegmentType.AsSequence, asns: [65000, 65001, 4200000001] }],
  nextHop: '192.0.2.1',
  localPref: 200,
};

function p(text: string, pathId = 0): Nlri {
  return parsePrefix(text, pathId) as Nlri;
}

function decode(bytes: Buffer, ctx = CTX): UpdateMessage {
  return decodeUpdate(bytes, ctx);
}

interface Golden {
  name: string;
  ctx: CodecContext;
  content: UpdateContent;
  bytes: Buffer;
}

const goldens: Golden[] = [
  {
    name: 'IPv4 announce and withdraw',
    ctx: CTX,
    content: {
      withdrawnRoutes: [p('10.0.2.0/24')],
      attributes: ATTRS,
      nlri: [p('10.0.1.0/24'), p('10.244.1.64/26')],
    },
    bytes: update('180a0002', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + LOCAL_PREF, '180a0001 1a0af40140'),
  },
  {
    name: 'IPv4 with ADD-PATH path identifiers',
    ctx: ADD_PATH,
    content: {
      withdrawnRoutes: [p('10.0.2.0/24', 3)],
      attributes: ATTRS,
      nlri: [p('10.0.1.0/24', 1), p('10.0.1.0/24', 2)],
    },
    bytes: update(
      '00000003180a0002',
      ORIGIN_IGP + AS_PATH_4 + NEXT_HOP + LOCAL_PREF,
      '00000001180a0001 00000002180a0001',
    ),
  },
  {
    name: 'IPv6 in MP_REACH_NLRI with a link-local next hop',
    ctx: CTX,
    content: {
      attributes: { ...ATTRS, nextHop: undefined },
      mpReach: {
        afi: Afi.Ipv6,
        safi: Safi.Unicast,
        nextHop: '2001:db8::1',
        linkLocalNextHop: 'fe80::1',
        nlri: [p('2001:db8:1:2::/64'), p('2001:db8:2::/48')],
      },
    },
    bytes: update(
      '',
      attr(
        0x90,
        14,
        '0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00 40 20010db800010002 30 20010db80002',
      ) +
        ORIGIN_IGP +
        AS_PATH_4 +
        LOCAL_PREF,
      '',
    ),
  },
  {
    name: 'IPv6 withdraw in MP_UNREACH_NLRI',
    ctx: CTX,
    content: { mpUnreach: { afi: Afi.Ipv6, safi: Safi.Unicast, withdrawn: [p('2001:db8:1:2::/64')] } },
    bytes: update('', attr(0x90, 15, '0002 01 40 20010db800010002'), ''),
  },
  {
    name: 'IPv6 with ADD-PATH',
    ctx: ADD_PATH,
    content: {
      attributes: { ...ATTRS, nextHop: undefined },
      mpReach: { afi: Afi.Ipv6, safi: Safi.Unicast, nextHop: '2001:db8::1', nlri: [p('2001:db8:2::/48', 7)] },
    },
    bytes: update(
      '',
      attr(0x90, 14, '0002 01 10 20010db8000000000000000000000001 00 00000007 30 20010db80002') +
        ORIGIN_IGP +
        AS_PATH_4 +
        LOCAL_PREF,
      '',
    ),
  },
];

test('golden UPDATEs encode to their bytes and decode to their content', (t) => {
  for (const g of goldens) {
    t.is(encodeUpdate(g.content, g.ctx).toString('hex'), g.bytes.toString('hex'), g.name);
    const decoded = decode(g.bytes, g.ctx);
    t.deepEqual(decoded.withdrawnRoutes, g.content.withdrawnRoutes ?? [], g.name);
    t.deepEqual(decoded.nlri, g.content.nlri ?? [], g.name);
    t.deepEqual(decoded.mpReach, g.content.mpReach, g.name);
    t.deepEqual(decoded.mpUnreach, g.content.mpUnreach, g.name);
    t.is(decoded.errorAction, undefined, g.name);
    t.is(decoded.attributes.localPref, g.content.attributes?.localPref, g.name);
  }
});

test('golden UPDATEs read the same in tshark', async (t) => {
  for (const g of goldens) {
    const [msg] = await tsharkDecode([g.bytes], { addPath: g.ctx.addPath.size > 0, asnLength: 4 });
    t.false(msg.malformed, g.name);
    const decoded = decode(g.bytes, g.ctx);
    const text = (list: readonly Nlri[]) => list.map((x) => formatPrefix(x));
    t.deepEqual(
      msg.prefixes.withdrawn.map((x) => x.prefix),
      text(decoded.withdrawnRoutes),
      g.name,
    );
    t.deepEqual(
      msg.prefixes.nlri.map((x) => x.prefix),
      text(decoded.nlri),
      g.name,
    );
    t.deepEqual(
      msg.prefixes.mpReach.map((x) => x.prefix),
      text(decoded.mpReach?.nlri ?? []),
      g.name,
    );
    t.deepEqual(
      msg.prefixes.mpUnreach.map((x) => x.prefix),
      text(decoded.mpUnreach?.withdrawn ?? []),
      g.name,
    );
    const ids = [...msg.prefixes.withdrawn, ...msg.prefixes.nlri, ...msg.prefixes.mpReach].map((x) =>
      Number(x.pathId ?? 0),
    );
    const ours = [...decoded.withdrawnRoutes, ...decoded.nlri, ...(decoded.mpReach?.nlri ?? [])].map(
      (x) => x.pathId,
    );
    t.deepEqual(ids, ours, g.name);
    if (decoded.mpReach) {
      t.deepEqual(
        tsharkField(msg, 'bgp.update.path_attribute.mp_reach_nlri.next_hop.ipv6'),
        [decoded.mpReach.nextHop],
        g.name,
      );
    }
  }
});

test('RFC 4724 §2: End-of-RIB for IPv4 and IPv6, both ways and in tshark', async (t) => {
  const v4 = encodeEndOfRib(Afi.Ipv4, Safi.Unicast, CTX);
  const v6 = encodeEndOfRib(Afi.Ipv6, Safi.Unicast, CTX);
  t.is(v4.toString('hex'), update('', '', '').toString('hex'));
  t.is(v6.toString('hex'), update('', attr(0x90, 15, '0002 01'), '').toString('hex'));
  t.deepEqual(endOfRibFamily(decode(v4)), { afi: Afi.Ipv4, safi: Safi.Unicast });
  t.deepEqual(endOfRibFamily(decode(v6)), { afi: Afi.Ipv6, safi: Safi.Unicast });
  t.is(endOfRibFamily(decode(goldens[3].bytes)), undefined);
  t.is(endOfRibFamily(decode(goldens[0].bytes)), undefined);
  const [m4, m6] = await tsharkDecode([v4, v6]);
  t.deepEqual(tsharkField(m4, 'bgp.update.path_attributes.length'), ['0']);
  t.deepEqual(tsharkField(m6, 'bgp.update.path_attribute.mp_unreach_nlri.afi'), ['2']);
});

// --- RFC 7606 at the UPDATE level --------------------------------------------------------------------

function resetOf(bytes: Buffer, ctx = CTX): BgpError {
  const e = t0(() => decode(bytes, ctx));
  if (!(e instanceof BgpError)) throw new Error('expected a session reset');
  return e;
}

function t0(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return e;
  }
}

test('field lengths that overrun the message reset the session with Malformed Attribute List', (t) => {
  const bad = Buffer.from(update('', ORIGIN_IGP, ''));
  bad.writeUInt16BE(0x00ff, 19); // withdrawn routes length too large
  t.like(resetOf(bad), { code: 3, subcode: UpdateSubcode.MalformedAttributeList });
  const bad2 = Buffer.from(update('', ORIGIN_IGP, ''));
  bad2.writeUInt16BE(0x00ff, 21); // total path attribute length too large
  t.like(resetOf(bad2), { code: 3, subcode: UpdateSubcode.MalformedAttributeList });
});

test('an unparseable NLRI or withdrawn field resets the session with Invalid Network Field (RFC 7606 §5.3)', (t) => {
  t.like(resetOf(update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP, '21c0000201ff')), {
    code: 3,
    subcode: UpdateSubcode.InvalidNetworkField,
  });
  t.like(resetOf(update('180a00', '', '')), { code: 3, subcode: UpdateSubcode.InvalidNetworkField });
  t.like(resetOf(update('', ORIGIN_IGP + AS_PATH_4 + NEXT_HOP, '000000'), ADD_PATH), {
    subcode: UpdateSubcode.InvalidNetworkField,
  });
});

test('RFC 7606 §3 (d): missing well-known attributes are treat-as-withdraw, only when announcing', (t) => {
  const cases: [string, Buffer, number[]][] = [
    ['no ORIGIN', update('', AS_PATH_4 + NEXT_HOP, '180a0001'), [1]],
    ['no AS_PATH', update('', ORIGIN_IGP + NEXT_HOP, '180a0001'), [2]],
    ['no NEXT_HOP', update('', ORIGIN_IGP + AS_PATH_4, '180a0001'), [3]],
    ['no attributes at all', update('', '', '180a0001'), [1, 2, 3]],
    [
      'MP_REACH without ORIGIN',
      update(
        '',
        attr(0x90, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80002') + AS_PATH_4,
        '',
      ),
      [1],
    ],
  ];
  for (const [name, bytes, missing] of cases) {
    const u = decode(bytes);
    t.is(u.errorAction, ErrorAction.TreatAsWithdraw, name);
    t.deepEqual(
      u.errors.map((e) => e.typeCode),
      missing,
      name,
    );
    t.true(
      u.errors.every((e) => e.subcode === UpdateSubcode.MissingWellKnownAttribute),
      name,
    );
  }
  t.is(decode(update('180a0001', '', '')).errorAction, undefined, 'a pure withdraw needs no attributes');
  t.is(
    decode(
      update(
        '',
        attr(0x90, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80002') +
          ORIGIN_IGP +
          AS_PATH_4,
        '',
      ),
    ).errorAction,
    undefined,
    'MP_REACH needs no NEXT_HOP',
  );
});

// --- the packer ----------------------------------------------------------------------------------------

function unpack(stream: Buffer, ctx: CodecContext): UpdateMessage[] {
  const framer = new MessageFramer();
  framer.maxMessageLength = ctx.maxMessageLength;
  framer.push(stream);
  const out: UpdateMessage[] = [];
  for (let f = framer.next(); f !== undefined; f = framer.next()) {
    if (f instanceof BgpError) throw f;
    if (f.length > ctx.maxMessageLength) throw new Error(`UPDATE of ${f.length} octets`);
    const d = decodeMessage(f, ctx, true);
    if (!d.ok || d.message.type !== 2) throw new Error('not an UPDATE');
    out.push(d.message);
  }
  return out;
}

const v4Prefixes = Array.from({ length: 5000 }, (_, i) => ipv4Prefix(0x0a000000 + i * 256, 24, i + 1));
const v6Prefixes = Array.from({ length: 3000 }, (_, i) => ipv6Prefix([0x20010db8, i << 8, 0, 0], 56, i + 1));

test('the packer fills each UPDATE up to the limit and no further, with and without ADD-PATH and extended messages', (t) => {
  for (const base of [CTX, ADD_PATH]) {
    for (const maxMessageLength of [4096, 65535]) {
      const ctx = { ...base, maxMessageLength };
      const addPath = ctx.addPath.size > 0;
      const packer = new UpdatePacker(ctx);
      const v4 = encodeAttributeSet(Afi.Ipv4, Safi.Unicast, ATTRS, ctx);
      const v6 = encodeAttributeSet(Afi.Ipv6, Safi.Unicast, ATTRS, ctx, { nextHop: '2001:db8::1' });
      packer.announce(v4, addPath ? v4Prefixes : v4Prefixes.map((x) => ({ ...x, pathId: 0 })));
      packer.announce(v6, addPath ? v6Prefixes : v6Prefixes.map((x) => ({ ...x, pathId: 0 })));
      const stream = packer.take();
      const updates = unpack(stream, ctx);
      const announced = updates.flatMap((u) => [...u.nlri, ...(u.mpReach?.nlri ?? [])]);
      t.is(announced.length, 8000);
      t.deepEqual(announced.slice(0, 5000).map(formatPrefix), v4Prefixes.map(formatPrefix));
      t.true(updates.every((u) => u.errorAction === undefined));
      // Every UPDATE but the last of each family is full: the next prefix would not have fitted.
      const perPrefix = (addPath ? 4 : 0) + 1 + 4;
      const sizes = updates.map((u) => encodeUpdate(u, ctx).length);
      t.true(sizes.every((s) => s <= maxMessageLength));
      const v4Messages = updates.filter((u) => u.nlri.length > 0);
      for (const u of v4Messages.slice(0, -1)) {
        t.true(encodeUpdate(u, ctx).length + perPrefix > maxMessageLength, 'UPDATE was not filled');
      }
      t.is(
        stream.length,
        updates.reduce((n, u) => n + encodeUpdate(u, ctx).length, 0),
      );
    }
  }
});

test('the packer splits withdrawals of both families the same way', (t) => {
  const packer = new UpdatePacker(CTX);
  const v4 = v4Prefixes.map((x) => ({ ...x, pathId: 0 }));
  const v6 = v6Prefixes.map((x) => ({ ...x, pathId: 0 }));
  packer.withdraw(Afi.Ipv4, Safi.Unicast, v4);
  packer.withdraw(Afi.Ipv6, Safi.Unicast, v6);
  const updates = unpack(packer.take(), CTX);
  t.deepEqual(updates.flatMap((u) => u.withdrawnRoutes).map(formatPrefix), v4.map(formatPrefix));
  t.deepEqual(updates.flatMap((u) => u.mpUnreach?.withdrawn ?? []).map(formatPrefix), v6.map(formatPrefix));
  t.true(updates.length < 30);
});

test('a kept packer starts each batch afresh: its own context, nothing of a batch that threw', (t) => {
  const packer = new UpdatePacker(CTX);
  const v4 = v4Prefixes.map((x) => ({ ...x, pathId: 0 }));
  const set = encodeAttributeSet(Afi.Ipv4, Safi.Unicast, ATTRS, CTX);
  // The next batch is packed for its own context (ADD-PATH here) into the kept scratch.
  packer.announce(set, v4);
  const first = packer.take();
  packer.begin(ADD_PATH);
  packer.announce(encodeAttributeSet(Afi.Ipv4, Safi.Unicast, ATTRS, ADD_PATH), v4Prefixes.slice(0, 10));
  const second = packer.take();
  t.deepEqual(
    unpack(second, ADD_PATH)
      .flatMap((u) => u.nlri)
      .map(formatPrefix),
    v4Prefixes.slice(0, 10).map(formatPrefix),
  );
  // What take() returned is a copy: packing on does not change it.
  const before = Buffer.from(first);
  packer.begin(CTX);
  packer.announce(set, v4.slice(0, 100));
  t.true(first.equals(before));
  // A batch that threw (no room for one prefix) leaves nothing behind for the next begin().
  const huge = { ...set, attributes: new Uint8Array(4090) };
  t.throws(() => packer.announce(huge, v4.slice(0, 1)), { instanceOf: RangeError });
  packer.begin(CTX);
  packer.announce(set, v4.slice(0, 3));
  t.is(packer.messageCount, 1);
  t.deepEqual(
    unpack(packer.take(), CTX)
      .flatMap((u) => u.nlri)
      .map(formatPrefix),
    v4.slice(0, 3).map(formatPrefix),
  );
});

test('packed UPDATEs read the same in tshark', async (t) => {
  const packer = new UpdatePacker(CTX);
  packer.announce(
    encodeAttributeSet(Afi.Ipv4, Safi.Unicast, ATTRS, CTX),
    v4Prefixes.slice(0, 1500).map((x) => ({ ...x, pathId: 0 })),
  );
  packer.announce(
    encodeAttributeSet(Afi.Ipv6, Safi.Unicast, ATTRS, CTX, { nextHop: '2001:db8::1' }),
    v6Prefixes.slice(0, 600).map((x) => ({ ...x, pathId: 0 })),
  );
  const stream = packer.take();
  const framer = new MessageFramer();
  framer.push(stream);
  const frames: Buffer[] = [];
  for (let f = framer.next(); f !== undefined && !(f instanceof BgpError); f = framer.next()) frames.push(f);
  const decoded = await tsharkDecode(frames, { addPath: false, asnLength: 4 });
  const prefixes = decoded.flatMap((m) => [...m.prefixes.nlri, ...m.prefixes.mpReach].map((x) => x.prefix));
  t.is(prefixes.length, 2100);
  t.true(decoded.every((m) => !m.malformed));
  t.is(prefixes[0], '10.0.0.0/24');
  t.is(prefixes[1500], '2001:db8::/56');
});

test('RFC 4760 §3: a malformed NEXT_HOP is ignored when the prefixes are all in MP_REACH_NLRI', (t) => {
  const mp = attr(0x90, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80002');
  const u = decode(update('', mp + ORIGIN_IGP + AS_PATH_4 + attr(0x40, 3, 'e0000001'), ''));
  t.is(u.errorAction, undefined);
  t.is(
    decode(update('', ORIGIN_IGP + AS_PATH_4 + attr(0x40, 3, 'e0000001'), '180a0001')).errorAction,
    ErrorAction.TreatAsWithdraw,
  );
});

// --- The UPDATE-level malformed corpus: each case names its NOTIFICATION or RFC 7606 action ----------

type UpdateExpect =
  | { readonly reset: { readonly subcode: number; readonly data?: string } }
  | { readonly action: ErrorAction | undefined; readonly nlri: number; readonly mpNlri: number };

interface UpdateCase {
  readonly name: string;
  readonly bytes: Buffer;
  readonly expect: UpdateExpect;
  readonly ctx?: CodecContext;
}

const S = UpdateSubcode;
const V6_NEXT_HOP = '20010db8000000000000000000000001';
const mpReach6 = (body: string) => attr(0x90, 14, `0002 01 ${body}`);
const mpUnreach = (body: string) => attr(0x90, 15, body);

const UPDATE_CORPUS: readonly UpdateCase[] = [
  // Class: MP_REACH_NLRI / MP_UNREACH_NLRI malformed (RFC 4760 §7, RFC 7606 §5.3, §7.11). AFI/SAFI
  // disable is answered with a session reset, with the attribute as data.
  {
    name: '§7.11 IPv6 next-hop length 4',
    bytes: update('', mpReach6('04 c0000201 00 30 20010db80002') + ORIGIN_IGP + AS_PATH_4, ''),
    expect: {
      reset: { subcode: S.OptionalAttributeError, data: mpReach6('04 c0000201 00 30 20010db80002') },
    },
  },
  {
    name: '§7.11 IPv6 next-hop length 17',
    bytes: update('', mpReach6(`11 ${V6_NEXT_HOP}00 00 30 20010db80002`) + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§7.11 IPv4 next-hop length 0',
    bytes: update('', attr(0x90, 14, '0001 01 00 00 18 0a0001') + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§5.3 MP_REACH IPv6 prefix length 129',
    bytes: update('', mpReach6(`10 ${V6_NEXT_HOP} 00 81 ${'00'.repeat(17)}`) + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§5.3 MP_REACH IPv4 prefix length 33',
    bytes: update('', attr(0x90, 14, '0001 01 04 c0000201 00 21 0a000001 00') + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§5.3 MP_REACH NLRI truncated (a /48 with 4 octets)',
    bytes: update('', mpReach6(`10 ${V6_NEXT_HOP} 00 30 20010db8`) + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§5.3 MP_UNREACH IPv6 prefix length 200',
    bytes: update('', mpUnreach(`0002 01 c8 ${'00'.repeat(25)}`), ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§5.3 MP_UNREACH NLRI truncated',
    bytes: update('', mpUnreach('0002 01 40 20010db8'), ''),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },
  {
    name: '§3c + §5.3 MP_REACH marked transitive',
    bytes: update(
      '',
      attr(0xd0, 14, `0002 01 10 ${V6_NEXT_HOP} 00 30 20010db80002`) + ORIGIN_IGP + AS_PATH_4,
      '',
    ),
    expect: { reset: { subcode: S.AttributeFlagsError } },
  },
  {
    name: '§3c + §5.3 MP_UNREACH marked well-known',
    bytes: update('', attr(0x50, 15, '0002 01 40 20010db800010002'), ''),
    expect: { reset: { subcode: S.AttributeFlagsError } },
  },
  {
    name: '§5.3 MP_REACH of 4 octets',
    bytes: update('', attr(0x80, 14, '0002 01 10') + ORIGIN_IGP + AS_PATH_4, ''),
    expect: { reset: { subcode: S.OptionalAttributeError, data: '800e0400020110' } },
  },
  {
    name: '§4 + §3j MP_REACH runs past the path attributes',
    bytes: update('', ORIGIN_IGP + AS_PATH_4 + `900e004000020110${V6_NEXT_HOP}`, ''),
    expect: { reset: { subcode: S.AttributeLengthError } },
  },
  {
    name: 'a malformed MP_REACH next to a good IPv4 NLRI field still resets',
    bytes: update('', mpReach6('04 c0000201 00') + ORIGIN_IGP + AS_PATH_4 + NEXT_HOP, '180a0001'),
    expect: { reset: { subcode: S.OptionalAttributeError } },
  },

  // Class: RFC 7606 §5.2, no reachable NLRI: any error stronger than attribute discard resets.
  {
    name: '§5.2 attributes only, ORIGIN value 7',
    bytes: update('', attr(0x40, 1, '07') + AS_PATH_4 + NEXT_HOP, ''),
    expect: { reset: { subcode: S.InvalidOriginAttribute, data: '40010107' } },
  },
  {
    name: '§5.2 withdrawals only, COMMUNITIES of 3 octets',
    bytes: update('180a0001', attr(0xc0, 8, '000001'), ''),
    expect: { reset: { subcode: S.AttributeLengthError, data: 'c00803000001' } },
  },
  {
    name: '§5.2 MP_UNREACH with a malformed AS_PATH',
    bytes: update('', MP_UNREACH_V6 + attr(0x40, 2, '02 05 0000fde8'), ''),
    expect: { reset: { subcode: S.MalformedAsPath } },
  },
  {
    name: '§5.2 withdrawals only, a NEXT_HOP of 5 octets (nothing in MP_REACH to excuse it)',
    bytes: update('180a0001', attr(0x40, 3, 'c000020100'), ''),
    expect: { reset: { subcode: S.AttributeLengthError } },
  },
  {
    name: '§5.2 + §4 attributes only, the last one running past the field',
    bytes: update('', ORIGIN_IGP + AS_PATH_4 + '40050800000064', ''),
    expect: { reset: { subcode: S.AttributeLengthError } },
  },
  {
    name: '§5.2 an MP_REACH with no prefixes and a bad ORIGIN',
    bytes: update('', mpReach6(`10 ${V6_NEXT_HOP} 00`) + attr(0x40, 1, '09') + AS_PATH_4, ''),
    expect: { reset: { subcode: S.InvalidOriginAttribute } },
  },
  {
    name: '§5.2 does not apply to an attribute discard (ATOMIC_AGGREGATE of 1 octet)',
    bytes: update('180a0001', attr(0x40, 6, '00'), ''),
    expect: { action: ErrorAction.AttributeDiscard, nlri: 0, mpNlri: 0 },
  },
  {
    name: '§5.2 does not apply when only MP_UNREACH is carried (End-of-RIB shape)',
    bytes: update('', attr(0x90, 15, '0002 01'), ''),
    expect: { action: undefined, nlri: 0, mpNlri: 0 },
  },

  // Class: §4 overruns in an MP-only UPDATE are treat-as-withdraw for the MP NLRI, whatever the type
  // code of the attribute that ran over (RFC 4760 §3 excuses a malformed NEXT_HOP, not an overrun).
  {
    name: '§4 MP-only UPDATE, a NEXT_HOP running past the field',
    bytes: update('', MP_REACH_V6 + ORIGIN_IGP + AS_PATH_4 + '400306c0000201', ''),
    expect: { action: ErrorAction.TreatAsWithdraw, nlri: 0, mpNlri: 2 },
  },
  {
    name: '§4 MP-only UPDATE, LOCAL_PREF running past the field',
    bytes: update('', MP_REACH_V6 + ORIGIN_IGP + AS_PATH_4 + '400505000000c8', ''),
    expect: { action: ErrorAction.TreatAsWithdraw, nlri: 0, mpNlri: 2 },
  },
  {
    name: '§4 MP-only UPDATE, a header cut short after the type code 3',
    bytes: update('', MP_REACH_V6 + ORIGIN_IGP + AS_PATH_4 + '4003', ''),
    expect: { action: ErrorAction.TreatAsWithdraw, nlri: 0, mpNlri: 2 },
  },
  {
    name: 'RFC 4760 §3 MP-only UPDATE, a well-framed NEXT_HOP of 5 octets is ignored',
    bytes: update('', MP_REACH_V6 + ORIGIN_IGP + AS_PATH_4 + attr(0x40, 3, 'c000020100'), ''),
    expect: { action: undefined, nlri: 0, mpNlri: 2 },
  },
];

for (const c of UPDATE_CORPUS) {
  test(`malformed UPDATE: ${c.name}`, (t) => {
    const decoded = decodeMessage(c.bytes, c.ctx ?? CTX);
    if ('reset' in c.expect) {
      t.false(decoded.ok, 'a session reset');
      if (decoded.ok) return;
      t.is(decoded.error.code, 3);
      t.is(decoded.error.subcode, c.expect.reset.subcode, decoded.error.message);
      if (c.expect.reset.data !== undefined) {
        t.is(Buffer.from(decoded.error.data).toString('hex'), c.expect.reset.data.replace(/\s+/g, ''));
      }
      return;
    }
    if (!decoded.ok) return t.fail(decoded.error.message);
    const u = decoded.message as UpdateMessage;
    t.is(u.errorAction, c.expect.action, JSON.stringify(u.errors));
    t.is(u.nlri.length, c.expect.nlri);
    t.is(u.mpReach?.nlri.length ?? 0, c.expect.mpNlri, 'the MP prefixes are known, to be withdrawn');
  });
}

// The Adj-RIB-Out's split horizon: members of one update group are sent every route but those learned
// from themselves, while the group still builds each UPDATE once. Each member decodes what it is
// written and keeps the table a real peer would, so the tests read like "what does client A hold".
import test from 'ava';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { decodeUpdate } from '../../src/bgp/codec/update.ts';
import { Origin } from '../../src/bgp/constants.ts';
import type { CodecContext, PathAttributes } from '../../src/bgp/types.ts';
import { formatIpv4, parseIpv4 } from '../../src/lib/address.ts';
import { IPV4_UNICAST } from '../../src/lib/family.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';
import { AdjRibOut } from '../../src/rib/adj-rib-out.ts';
import type { AddPathSendMode, AdjRibOutOptions, GroupMember } from '../../src/rib/adj-rib-out.ts';
import type { RouteAttributes } from '../../src/rib/attr-set.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { RibPeer } from '../../src/rib/route.ts';

const AS = 64512;
const IDENTITY = { routerId: parseIpv4('10.0.0.254'), clusterId: parseIpv4('10.0.0.254'), localAs: AS };
const CLIENTS: ExportTarget = {
  external: false,
  routeReflectorClient: true,
  localAs: AS,
  peerAs: AS,
  nextHopMode: 'auto',
};

function ribPeer(n: number, local = false): RibPeer {
  return {
    id: n,
    name: local ? 'local' : `client-${n}`,
    addressKey: `4:${String(n).padStart(8, '0')}`,
    bgpIdentifier: parseIpv4(`10.0.0.${n}`),
    external: false,
    peerAs: AS,
    routeReflectorClient: !local,
    local,
  };
}

/** A session as the Adj-RIB-Out sees it, keeping the table its peer would hold. */
class Client implements GroupMember {
  readonly families = new Set([IPV4_UNICAST]);
  readonly context: CodecContext;
  /** Octets "queued on the socket": a test raises it to make the member slow. */
  bufferedBytes = 0;
  /** Prefix (with " #id" under ADD-PATH) → the attributes last announced with it. */
  readonly table = new Map<string, PathAttributes>();
  /** "+prefix" / "-prefix" in the order received. */
  readonly events: string[] = [];
  /** Writes to the "socket". */
  writes = 0;
  private readonly framer = new MessageFramer();

  constructor(
    readonly name: string,
    readonly ribPeer: RibPeer | undefined,
    addPath = false,
  ) {
    this.context = {
      fourOctetAs: true,
      addPath: new Set(addPath ? [IPV4_UNICAST] : []),
      maxMessageLength: 4096,
      external: false,
    };
  }

  send(bytes: Buffer): boolean {
    this.writes++;
    this.framer.push(bytes);
    for (let m = this.framer.next(); m instanceof Buffer; m = this.framer.next()) {
      const update = decodeUpdate(m, this.context);
      for (const p of update.withdrawnRoutes) this.record('-', p);
      for (const p of update.nlri) this.record('+', p, update.attributes);
    }
    return true;
  }

  sendRouteRefresh(): void {}

  private record(sign: '+' | '-', p: Nlri, attributes?: PathAttributes): void {
    const key = this.context.addPath.size > 0 ? `${formatPrefix(p)} #${p.pathId}` : formatPrefix(p);
    this.events.push(`${sign}${key}`);
    if (attributes) this.table.set(key, attributes);
    else this.table.delete(key);
  }

  /** Prefix → the ORIGINATOR_ID it holds, as text. */
  view(): Record<string, string> {
    const view: Record<string, string> = {};
    for (const [key, a] of this.table)
      view[key] = a.originatorId === undefined ? '-' : formatIpv4(a.originatorId);
    return view;
  }
}

function setup(mode: AddPathSendMode = 'best', options?: AdjRibOutOptions) {
  const rib = new LocRib();
  const out = new AdjRibOut(rib, new ReflectorExport(IDENTITY), silentLogger, options);
  const peers = [1, 2, 3].map((n) => ribPeer(n));
  const [a, b, c] = peers.map((p) => new Client(p.name, p, mode !== 'best'));
  const announce = (from: RibPeer, prefix: string, attributes: RouteAttributes = {}) => {
    const attrs = rib.attrSets.intern({
      origin: Origin.Igp,
      asPath: [],
      nextHop: `192.0.2.${from.id}`,
      localPref: 100,
      ...attributes,
    });
    rib.announce(from, parsePrefix(prefix) as Nlri, attrs, true);
    rib.attrSets.release(attrs);
  };
  const withdraw = (from: RibPeer, prefix: string) => rib.withdraw(from, parsePrefix(prefix) as Nlri);
  const settled = async () => {
    for (let turns = 0; turns < 1000; turns++) {
      await rib.settled();
      if (out.idle) return;
      await new Promise((r) => setImmediate(r));
    }
    throw new Error('the Adj-RIB-Out did not settle');
  };
  const join = async (...clients: Client[]) => {
    for (const client of clients) out.addMember(client, CLIENTS, mode);
    await settled();
    // Groups merge a turn after they go idle.
    await new Promise((r) => setImmediate(r));
  };
  return { rib, out, peers, a, b, c, announce, withdraw, settled, join };
}

test('split horizon: a member is sent every route but those learned from it', async (t) => {
  const { out, peers, a, b, c, announce, settled, join } = setup();
  await join(a, b, c);
  t.is(out.groupCount, 1, 'one update group');
  announce(peers[0], '10.1.0.0/24');
  announce(peers[0], '10.1.1.0/24');
  announce(peers[1], '10.2.0.0/24');
  await settled();
  t.deepEqual(a.view(), { '10.2.0.0/24': '10.0.0.2' });
  t.deepEqual(b.view(), { '10.1.0.0/24': '10.0.0.1', '10.1.1.0/24': '10.0.0.1' });
  t.deepEqual(c.view(), { '10.1.0.0/24': '10.0.0.1', '10.1.1.0/24': '10.0.0.1', '10.2.0.0/24': '10.0.0.2' });
  t.false(
    a.events.some((e) => e.includes('10.1.')),
    'nothing of its own, not even a withdrawal',
  );
});

test('the UPDATE is still built once per group, not once per member', async (t) => {
  const { out, peers, a, b, c, announce, settled, join } = setup();
  await join(a, b, c);
  const before = out.messagesBuilt;
  for (let i = 0; i < 100; i++) announce(peers[0], `10.1.${i}.0/24`);
  await settled();
  t.is(out.messagesBuilt - before, 1, 'one UPDATE with 100 prefixes, written to b and c');
  t.is(b.table.size, 100);
  t.is(c.table.size, 100);
  t.is(a.table.size, 0);
});

test('a best path that moves between members reaches the one it left and leaves the one it reached', async (t) => {
  const { peers, a, b, c, announce, withdraw, settled, join } = setup();
  await join(a, b, c);
  announce(peers[0], '10.9.0.0/24');
  await settled();
  t.deepEqual(
    [a.view(), b.view(), c.view()],
    [{}, { '10.9.0.0/24': '10.0.0.1' }, { '10.9.0.0/24': '10.0.0.1' }],
  );

  announce(peers[1], '10.9.0.0/24', { localPref: 200 });
  await settled();
  t.deepEqual(
    [a.view(), b.view(), c.view()],
    [{ '10.9.0.0/24': '10.0.0.2' }, {}, { '10.9.0.0/24': '10.0.0.2' }],
    "b's route is best: a gets it, b's copy of a's route is withdrawn",
  );

  withdraw(peers[1], '10.9.0.0/24');
  await settled();
  t.deepEqual(
    [a.view(), b.view(), c.view()],
    [{}, { '10.9.0.0/24': '10.0.0.1' }, { '10.9.0.0/24': '10.0.0.1' }],
  );

  withdraw(peers[0], '10.9.0.0/24');
  await settled();
  t.deepEqual([a.view(), b.view(), c.view()], [{}, {}, {}]);
  t.deepEqual(a.events, ['+10.9.0.0/24', '-10.9.0.0/24']);
});

test('the same attributes from another member still move: only the two members concerned hear of it', async (t) => {
  const { peers, a, b, c, announce, withdraw, settled, join } = setup();
  await join(a, b, c);
  // Both carry the ORIGINATOR_ID of a route reflected to them before: exported, they are identical.
  const same = { originatorId: parseIpv4('10.0.0.99'), nextHop: '192.0.2.99' };
  announce(peers[0], '10.9.0.0/24', same);
  announce(peers[1], '10.9.0.0/24', same);
  await settled();
  t.deepEqual(
    [a.view(), b.view(), c.view()],
    [{}, { '10.9.0.0/24': '10.0.0.99' }, { '10.9.0.0/24': '10.0.0.99' }],
  );
  const heard = c.events.length;
  withdraw(peers[0], '10.9.0.0/24');
  await settled();
  t.deepEqual(
    [a.view(), b.view(), c.view()],
    [{ '10.9.0.0/24': '10.0.0.99' }, {}, { '10.9.0.0/24': '10.0.0.99' }],
  );
  t.is(c.events.length, heard, 'c holds the same route as before: nothing is sent to it');
});

test('a member the RIB does not know as a peer is sent everything', async (t) => {
  const { peers, c, announce, settled, join } = setup();
  const anonymous = new Client('anonymous', undefined);
  await join(anonymous, c);
  announce(peers[2], '10.3.0.0/24');
  await settled();
  t.deepEqual(anonymous.view(), { '10.3.0.0/24': '10.0.0.3' });
  t.deepEqual(c.view(), {});
});

test("a turn's withdrawals are written before its announcements, whoever they are for", async (t) => {
  const { rib, peers, a, b, c, announce, withdraw, settled, join } = setup();
  await join(a, b, c);
  announce(peers[0], '10.9.0.0/24');
  await settled();
  // a's route goes and a local one comes in the same turn: the Dest left the table with a's path, so
  // the local route is a new Dest, and b and c get a's withdrawal (for all but a) and the local
  // announcement (for everyone) in one turn.
  withdraw(peers[0], '10.9.0.0/24');
  const local = ribPeer(0, true);
  const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: '192.0.2.254' });
  rib.announce(local, parsePrefix('10.9.0.0/24') as Nlri, attrs, true);
  rib.attrSets.release(attrs);
  await settled();
  for (const client of [a, b, c]) t.deepEqual(client.view(), { '10.9.0.0/24': '-' }, client.name);
  t.deepEqual(b.events, ['+10.9.0.0/24', '-10.9.0.0/24', '+10.9.0.0/24']);
});

test('a large drain is written as it is exported, in the order destinations were staged', async (t) => {
  const { rib, peers, a, b, c, announce, withdraw, settled, join } = setup('best', {
    memberBacklogLimit: 64 * 1024 * 1024,
    destsPerTurn: 20_000,
  });
  await join(a, b, c);
  announce(peers[0], '10.9.0.0/24');
  await settled();
  const writes = c.writes;
  // One turn: 6,000 prefixes, a's 10.9.0.0/24 withdrawn and announced again locally (a new Dest),
  // 6,000 more. The withdrawal and the announcement fall in different writes.
  for (let i = 0; i < 6_000; i++) announce(peers[1], `10.${20 + (i >> 8)}.${i & 255}.0/24`);
  withdraw(peers[0], '10.9.0.0/24');
  const local = ribPeer(0, true);
  const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop: '192.0.2.254' });
  rib.announce(local, parsePrefix('10.9.0.0/24') as Nlri, attrs, true);
  rib.attrSets.release(attrs);
  for (let i = 6_000; i < 12_000; i++) announce(peers[1], `10.${20 + (i >> 8)}.${i & 255}.0/24`);
  await settled();
  t.true(c.writes - writes >= 3, `written in parts: ${c.writes - writes} writes`);
  t.is(c.table.size, 12_001);
  t.is(c.view()['10.9.0.0/24'], '-', 'the local route');
  t.deepEqual(
    c.events.filter((e) => e.endsWith('10.9.0.0/24')),
    ['+10.9.0.0/24', '-10.9.0.0/24', '+10.9.0.0/24'],
  );
  t.is(a.table.size, 12_001);
  t.is(b.table.size, 1);
});

test('ADD-PATH "all": every path but the member\'s own', async (t) => {
  const { peers, a, b, c, announce, withdraw, settled, join } = setup('all');
  await join(a, b, c);
  announce(peers[0], '10.9.0.0/24');
  announce(peers[1], '10.9.0.0/24', { localPref: 200 });
  await settled();
  const ids = (client: Client) => Object.values(client.view()).sort();
  t.deepEqual(ids(a), ['10.0.0.2']);
  t.deepEqual(ids(b), ['10.0.0.1']);
  t.deepEqual(ids(c), ['10.0.0.1', '10.0.0.2']);
  withdraw(peers[1], '10.9.0.0/24');
  await settled();
  t.deepEqual([ids(a), ids(b), ids(c)], [[], ['10.0.0.1'], ['10.0.0.1']]);
});

test("a member that joins later gets the others' routes in its dump, not its own", async (t) => {
  const { out, peers, a, b, announce, settled, join } = setup();
  await join(b);
  announce(peers[0], '10.1.0.0/24');
  announce(peers[1], '10.2.0.0/24');
  await settled();
  await join(a);
  t.is(out.groupCount, 1, 'the new member merged into the group after its dump');
  t.deepEqual(a.view(), { '10.2.0.0/24': '10.0.0.2' });
  t.deepEqual(b.view(), { '10.1.0.0/24': '10.0.0.1' });
});

/** Bounded walks: a few destinations per turn, so changes arrive while a split or a drop is walking. */
const SMALL_TURNS: AdjRibOutOptions = { memberBacklogLimit: 1000, destsPerTurn: 5 };
const SOURCE = ribPeer(9);
const prefixes = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => `10.9.${from + i}.0/24`);

test('a slow member split off mid-change holds exactly what the others hold once it catches up', async (t) => {
  const { rib, out, a, b, c, announce, withdraw, settled, join } = setup('best', SMALL_TURNS);
  rib.maxVisitsPerTurn = 5;
  await join(a, b, c);
  for (const p of prefixes(0, 40)) announce(SOURCE, p);
  await settled();
  c.bufferedBytes = 5000;
  for (const p of prefixes(0, 10)) withdraw(SOURCE, p);
  for (const p of prefixes(40, 5)) announce(SOURCE, p);
  // Let the group try to drain: it splits c off and starts copying its Adj-RIB-Out, a few per turn.
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  t.is(out.groupCount, 2, 'c has a group of its own');
  for (const p of prefixes(30, 10)) withdraw(SOURCE, p);
  for (const p of prefixes(45, 5)) announce(SOURCE, p);
  c.bufferedBytes = 0;
  out.writable(c);
  await settled();
  const expected = [...prefixes(10, 20), ...prefixes(40, 10)].sort();
  t.deepEqual(Object.keys(b.view()).sort(), expected);
  t.deepEqual(c.view(), b.view(), 'nothing missed, nothing left over');
  t.deepEqual(a.view(), b.view());
});

test('dropping groups releases every attribute set, also of destinations withdrawn during the walk', async (t) => {
  const { rib, out, a, b, announce, withdraw, settled, join } = setup('best', SMALL_TURNS);
  rib.maxVisitsPerTurn = 5;
  await join(a, b);
  prefixes(0, 30).forEach((p, i) => announce(SOURCE, p, { localPref: 100 + (i % 3) }));
  await settled();
  t.is(b.table.size, 30);
  out.removeMember(a);
  out.removeMember(b);
  t.is(out.groupCount, 0);
  for (const p of prefixes(0, 30)) withdraw(SOURCE, p);
  await settled();
  t.is(rib.pathCount, 0);
  t.is(rib.attrSets.size, 0, 'no reference left behind');
});

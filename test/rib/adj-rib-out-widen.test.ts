// RFC 4724 §4.1 per AFI/SAFI on the Adj-RIB-Out: a session first sent one family (released before the
// others after a restart) is widened to more; it is sent only the added family's routes and that
// family's End-of-RIB, nothing of the family it had — or every End-of-RIB when its first dump had
// not finished yet.
import test from 'ava';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { decodeUpdate, endOfRibFamily } from '../../src/bgp/codec/update.ts';
import { Origin } from '../../src/bgp/constants.ts';
import type { CodecContext } from '../../src/bgp/types.ts';
import { parseIpv4 } from '../../src/lib/address.ts';
import { IPV4_UNICAST, IPV6_UNICAST } from '../../src/lib/family.ts';
import { silentLogger } from '../../src/lib/log.ts';
import { formatPrefix, parsePrefix } from '../../src/lib/prefix.ts';
import type { Nlri } from '../../src/lib/prefix.ts';
import { ReflectorExport } from '../../src/reflector/reflection.ts';
import { AdjRibOut } from '../../src/rib/adj-rib-out.ts';
import type { GroupMember } from '../../src/rib/adj-rib-out.ts';
import type { ExportTarget } from '../../src/rib/export.ts';
import { LocRib } from '../../src/rib/loc-rib.ts';
import type { RibPeer } from '../../src/rib/route.ts';

const AS = 64512;
const IDENTITY = { routerId: parseIpv4('10.0.0.254'), clusterId: parseIpv4('10.0.0.254'), localAs: AS };
const TARGET: ExportTarget = {
  external: false,
  routeReflectorClient: true,
  localAs: AS,
  peerAs: AS,
  nextHopMode: 'auto',
  localAddress4: '192.0.2.254',
  localAddress6: '2001:db8::fe',
};
const CTX: CodecContext = { fourOctetAs: true, addPath: new Set(), maxMessageLength: 4096, external: false };

const source: RibPeer = {
  id: 1,
  name: 'source',
  addressKey: '4:0a000001',
  bgpIdentifier: parseIpv4('10.0.0.1'),
  external: false,
  peerAs: AS,
  routeReflectorClient: true,
  local: false,
};

/** One session's member with `families`; all members of it write into `seen`. */
function member(families: number[], seen: string[]): GroupMember {
  const framer = new MessageFramer();
  return {
    name: 'client',
    families: new Set(families),
    context: CTX,
    bufferedBytes: 0,
    sendRouteRefresh: () => undefined,
    send(bytes: Buffer): boolean {
      framer.push(bytes);
      for (let m = framer.next(); m instanceof Buffer; m = framer.next()) {
        const update = decodeUpdate(m, CTX);
        const eor = endOfRibFamily(update);
        if (eor) seen.push(`EoR ${eor.afi}`);
        for (const p of [...update.nlri, ...(update.mpReach?.nlri ?? [])]) seen.push(formatPrefix(p));
      }
      return true;
    },
  };
}

function setup() {
  const rib = new LocRib();
  const out = new AdjRibOut(rib, new ReflectorExport(IDENTITY), silentLogger);
  for (const [prefix, nextHop] of [
    ['10.1.0.0/24', '192.0.2.1'],
    ['2001:db8:1::/48', '2001:db8::1'],
  ]) {
    const attrs = rib.attrSets.intern({ origin: Origin.Igp, asPath: [], nextHop, localPref: 100 });
    rib.announce(source, parsePrefix(prefix) as Nlri, attrs, true);
    rib.attrSets.release(attrs);
  }
  /** Bounded: at most 1000 turns for the Loc-RIB to decide and the Adj-RIB-Out to send it all. */
  const settled = async () => {
    for (let turns = 0; turns < 1000; turns++) {
      await rib.settled();
      if (out.idle) return;
      await new Promise((r) => setImmediate(r));
    }
  };
  return { out, settled };
}

test('widened after its End-of-RIB: only the added family, then its End-of-RIB', async (t) => {
  const { out, settled } = setup();
  const seen: string[] = [];
  const v4 = member([IPV4_UNICAST], seen);
  await settled();
  out.addMember(v4, TARGET);
  await settled();
  t.deepEqual(seen.splice(0), ['10.1.0.0/24', 'EoR 1']);
  t.true(out.widen(v4, member([IPV4_UNICAST, IPV6_UNICAST], seen)));
  await settled();
  t.deepEqual(seen, ['2001:db8:1::/48', 'EoR 2'], 'IPv4 is not sent again');
});

test('widened before its first dump ended: every End-of-RIB; a member not in the Adj-RIB-Out is not widened', async (t) => {
  const { out, settled } = setup();
  const seen: string[] = [];
  const v4 = member([IPV4_UNICAST], seen);
  await settled();
  out.addMember(v4, TARGET);
  out.widen(v4, member([IPV4_UNICAST, IPV6_UNICAST], seen));
  await settled();
  t.deepEqual(seen.filter((s) => s.startsWith('EoR')).sort(), ['EoR 1', 'EoR 2']);
  t.deepEqual(seen.filter((s) => !s.startsWith('EoR')).sort(), ['10.1.0.0/24', '2001:db8:1::/48']);
  t.false(out.widen(member([IPV4_UNICAST], []), member([IPV6_UNICAST], [])));
});

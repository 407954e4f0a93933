/**
 * Captures the raw BGP messages that BIRD 2, GoBGP and FRR send, as fixtures for codec golden tests.
 *
 * Run manually as root: `npx tsx test/tools/capture-peer-bytes.ts` (not part of the test suite).
 * Output: test/fixtures/captured/<peer>-<scenario>.hex, described in the README there.
 *
 * Layout: two namespaces joined by one veth. The peers namespace holds the daemons, each bound to its own
 * address; the speaker namespace holds one source address per session. Node cannot open a socket in
 * another namespace, so this script re-runs itself inside the speaker namespace to do the captures; the
 * outer run only builds and removes the namespaces. Nothing leaves the two namespaces.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

import { Cleanup, createNetns, createVeth, inNetns, run, sleep, waitFor } from '../helpers/netns.ts';
import { peerVersions, startBird, startFrr, startGobgp } from '../helpers/peers.ts';
import type { PeerHandle, PeerOptions, PeerRoute } from '../helpers/peers.ts';
import { TSHARK_MAX_MESSAGE, tsharkDecode } from '../helpers/tshark.ts';
import type { TsharkBgpMessage } from '../helpers/tshark.ts';

const OUT_DIR = fileURLToPath(new URL('../fixtures/captured/', import.meta.url));
const INSIDE_FLAG = '--inside-speaker-netns';
const CHILD_TIMEOUT_MS = 8 * 60_000;

const PEER_AS = 64512;
const EBGP_AS = 4_200_000_001;
const SPEAKER_IF = 'cap0';
const PEERS_IF = 'cap1';

type PeerKind = PeerHandle['kind'];

interface Scenario {
  readonly peer: PeerKind;
  readonly name: string;
  readonly localAddress: string;
  readonly localAs: number;
  readonly peerAddress: string;
  readonly addPath: boolean;
}

const PEER_ADDRESSES: Readonly<Record<PeerKind, [string, string]>> = {
  bird2: ['192.0.2.2', '2001:db8::2'],
  gobgp: ['192.0.2.3', '2001:db8::3'],
  frr: ['192.0.2.4', '2001:db8::4'],
};

const ALL_SCENARIOS: readonly Scenario[] = (['bird2', 'gobgp', 'frr'] as const).flatMap((peer, i) => [
  {
    peer,
    name: 'ebgp',
    localAddress: `192.0.2.${11 + 2 * i}`,
    localAs: EBGP_AS,
    peerAddress: PEER_ADDRESSES[peer][0],
    addPath: false,
  },
  {
    peer,
    name: 'ibgp-addpath',
    localAddress: `192.0.2.${12 + 2 * i}`,
    localAs: PEER_AS,
    peerAddress: PEER_ADDRESSES[peer][0],
    addPath: true,
  },
]);

// Optional filter for reruns: BRINDLE_CAPTURE=gobgp-ebgp,frr (peer or peer-session names).
const ONLY = (process.env.BRINDLE_CAPTURE ?? '').split(',').filter((x) => x !== '');
const SCENARIOS = ALL_SCENARIOS.filter(
  (s) => ONLY.length === 0 || ONLY.includes(s.peer) || ONLY.includes(`${s.peer}-${s.name}`),
);

// Routes the peer withdraws and re-announces during a capture, one per family.
const CHURN: readonly PeerRoute[] = [
  { prefix: '203.0.113.0/25' },
  { prefix: '2001:db8:101::/64', localPref: 150 },
];

function routes(multiPath: boolean): PeerRoute[] {
  const list: PeerRoute[] = [
    {
      prefix: '198.51.100.0/24',
      communities: ['64512:100', '64512:101'],
      largeCommunities: ['64512:1:1'],
      med: 10,
      localPref: 200,
    },
    { prefix: '2001:db8:100::/48', communities: ['64512:600'], largeCommunities: ['64512:6:6'], med: 60 },
    ...CHURN,
  ];
  if (multiPath) {
    // A second path for one prefix per family, so ADD-PATH sessions carry two path ids.
    list.push({ prefix: '198.51.100.0/24', communities: ['64512:200'], med: 20, source: 1 });
    list.push({ prefix: '2001:db8:100::/48', communities: ['64512:700'], med: 70, source: 1 });
  }
  return list;
}

function peerOptions(peer: PeerKind, netns: string): PeerOptions {
  const [v4, v6] = PEER_ADDRESSES[peer];
  const sessions = SCENARIOS.filter((s) => s.peer === peer);
  return {
    netns,
    routerId: v4,
    localAddress: v4,
    localAddress6: v6,
    asn: PEER_AS,
    neighbors: sessions.map((s) => ({
      address: s.localAddress,
      asn: s.localAs,
      passive: true,
      rrClient: s.localAs === PEER_AS,
      addPath: s.addPath,
      gracefulRestart: true,
    })),
    // bgpd announces one path per prefix (its `network` statements).
    staticRoutes: routes(peer !== 'frr'),
  };
}

// ---------------------------------------------------------------------------------------------------
// Hand-built messages: the speaker must not depend on the codec under test.

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const u16 = (n: number): string => n.toString(16).padStart(4, '0');
const u32 = (n: number): string => n.toString(16).padStart(8, '0');
const u8 = (n: number): string => n.toString(16).padStart(2, '0');

function message(type: number, body: string): Buffer {
  const payload = hex(body);
  return Buffer.concat([Buffer.alloc(16, 0xff), hex(u16(19 + payload.length) + u8(type)), payload]);
}

function capability(code: number, value: string): string {
  return u8(code) + u8(value.length / 2) + value;
}

function openMessage(localAs: number, routerId: string): Buffer {
  const caps = [
    capability(1, '00010001'), // MP IPv4 unicast
    capability(1, '00020001'), // MP IPv6 unicast
    capability(2, ''), // route refresh
    capability(70, ''), // enhanced route refresh
    capability(65, u32(localAs)), // 4-octet AS
    capability(69, '000101030002' + '0103'), // ADD-PATH IPv4+IPv6 unicast, send and receive
    capability(6, ''), // extended message
    capability(64, '0078' + '00010100' + '00020100'), // graceful restart, 120 s, both families
  ].join('');
  const param = '02' + u8(caps.length / 2) + caps;
  const myAs = localAs > 0xffff ? 23456 : localAs;
  const id = routerId
    .split('.')
    .map((o) => u8(Number(o)))
    .join('');
  return message(1, `04 ${u16(myAs)} 005a ${id} ${u8(param.length / 2)} ${param}`);
}

const KEEPALIVE = message(4, '');
const routeRefresh = (afi: number, subtype = 0): Buffer => message(5, `${u16(afi)} ${u8(subtype)} 01`);

// ---------------------------------------------------------------------------------------------------
// Minimal classification of received messages (enough to drive the session).

interface Received {
  readonly bytes: Buffer;
  readonly note?: string;
}

function typeOf(msg: Buffer): number {
  return msg[18];
}

/** AFI of an End-of-RIB marker, or undefined. */
function endOfRibAfi(msg: Buffer): number | undefined {
  if (typeOf(msg) !== 2) return undefined;
  if (msg.length === 23) return 1;
  const withdrawnLength = msg.readUInt16BE(19);
  const attrLength = msg.readUInt16BE(21);
  if (withdrawnLength !== 0 || attrLength !== msg.length - 23) return undefined;
  const flags = msg[23];
  const extended = (flags & 0x10) !== 0;
  const valueLength = extended ? msg.readUInt16BE(25) : msg[25];
  const value = 23 + (extended ? 4 : 3);
  const lone = value + valueLength === msg.length;
  return msg[24] === 15 && valueLength === 3 && lone ? msg.readUInt16BE(value) : undefined;
}

/** Path attribute type codes of an UPDATE with the AFI of MP_REACH/MP_UNREACH and whether they carry prefixes. */
function updateFacts(msg: Buffer): { withdrawn: boolean; nlri: boolean; reach: number[]; unreach: number[] } {
  const withdrawnLength = msg.readUInt16BE(19);
  const attrStart = 23 + withdrawnLength;
  const attrEnd = attrStart + msg.readUInt16BE(21 + withdrawnLength);
  const facts = {
    withdrawn: withdrawnLength > 0,
    nlri: attrEnd < msg.length,
    reach: [] as number[],
    unreach: [] as number[],
  };
  for (let p = attrStart; p < attrEnd;) {
    const extended = (msg[p] & 0x10) !== 0;
    const length = extended ? msg.readUInt16BE(p + 2) : msg[p + 2];
    const value = p + (extended ? 4 : 3);
    if (msg[p + 1] === 14) facts.reach.push(msg.readUInt16BE(value));
    if (msg[p + 1] === 15 && length > 3) facts.unreach.push(msg.readUInt16BE(value));
    p = value + length;
  }
  return facts;
}

function peerCapabilities(open: Buffer): Set<number> {
  const caps = new Set<number>();
  const end = 29 + open[28];
  for (let p = 29; p + 2 <= end; p += 2 + open[p + 1]) {
    if (open[p] !== 2) continue;
    for (let c = p + 2; c + 2 <= p + 2 + open[p + 1]; c += 2 + open[c + 1]) caps.add(open[c]);
  }
  return caps;
}

// ---------------------------------------------------------------------------------------------------
// The speaker

class Session {
  readonly received: Received[] = [];
  private buffer = Buffer.alloc(0);
  private pendingNote: string | undefined;
  private closed = false;
  private readonly keepalive: NodeJS.Timeout;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => (this.closed = true));
    this.keepalive = setInterval(() => this.send(KEEPALIVE), 20_000);
  }

  static async open(scenario: Scenario): Promise<Session> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({
        host: scenario.peerAddress,
        port: 179,
        localAddress: scenario.localAddress,
        timeout: 10_000,
      });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
      s.once('timeout', () => reject(new Error(`connect to ${scenario.peerAddress} timed out`)));
    });
    socket.setTimeout(0);
    const session = new Session(socket);
    session.send(openMessage(scenario.localAs, scenario.localAddress));
    return session;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Attach a note to the next received message (marks what the speaker did just before it). */
  mark(note: string): void {
    this.pendingNote = note;
  }

  send(msg: Buffer): void {
    if (!this.closed) this.socket.write(msg);
  }

  close(): void {
    clearInterval(this.keepalive);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 19) {
      const length = this.buffer.readUInt16BE(16);
      if (length < 19 || this.buffer.length < length) break;
      const bytes = Buffer.from(this.buffer.subarray(0, length));
      this.buffer = this.buffer.subarray(length);
      this.received.push(this.pendingNote === undefined ? { bytes } : { bytes, note: this.pendingNote });
      this.pendingNote = undefined;
      if (typeOf(bytes) === 1) this.send(KEEPALIVE);
    }
  }
}

function has(session: Session, from: number, test: (msg: Buffer) => boolean): boolean {
  return session.received.slice(from).some((r) => test(r.bytes));
}

/** Waits for the initial table: End-of-RIB for both families, or a quiet spell from a peer without GR. */
async function waitInitialTable(session: Session): Promise<void> {
  const open = await waitFor(() => session.received.find((r) => typeOf(r.bytes) === 1), {
    timeoutMs: 15_000,
    what: 'the peer OPEN',
  });
  if (!peerCapabilities(open.bytes).has(64)) {
    await waitQuiet(session);
    return;
  }
  await waitFor(
    () => has(session, 0, (m) => endOfRibAfi(m) === 1) && has(session, 0, (m) => endOfRibAfi(m) === 2),
    { timeoutMs: 40_000, intervalMs: 100, what: 'End-of-RIB for IPv4 and IPv6' },
  );
}

/** Returns after 3 s without a new message (at most 60 s). */
async function waitQuiet(session: Session): Promise<void> {
  for (let i = 0, seen = -1; i < 20 && seen !== session.received.length; i += 1) {
    seen = session.received.length;
    await sleep(3_000);
  }
}

/** Sends ROUTE-REFRESH for one AFI and waits for the re-sent routes (EoRR, or a quiet second without it). */
async function refresh(session: Session, afi: number, enhanced: boolean): Promise<void> {
  const from = session.received.length;
  session.mark(`speaker sent ROUTE-REFRESH afi=${afi} safi=1`);
  session.send(routeRefresh(afi));
  if (enhanced) {
    const isEorr = (m: Buffer): boolean => typeOf(m) === 5 && m[21] === 2 && m.readUInt16BE(19) === afi;
    await waitFor(() => has(session, from, isEorr), { timeoutMs: 20_000, what: `EoRR for afi ${afi}` });
    return;
  }
  await waitFor(() => has(session, from, (m) => typeOf(m) === 2), {
    timeoutMs: 20_000,
    what: 'refreshed routes',
  });
  await waitQuiet(session);
}

/** Makes the peer withdraw and then re-announce the CHURN routes, waiting for both families each time. */
async function churn(session: Session, peer: PeerHandle): Promise<void> {
  const updates = (from: number): ReturnType<typeof updateFacts>[] =>
    session.received
      .slice(from)
      .filter((r) => typeOf(r.bytes) === 2)
      .map((r) => updateFacts(r.bytes));
  let from = session.received.length;
  session.mark(`peer withdrew ${CHURN.map((r) => r.prefix).join(' and ')}`);
  for (const route of CHURN) await peer.withdrawRoute(route);
  await waitFor(
    () => updates(from).some((u) => u.withdrawn) && updates(from).some((u) => u.unreach.includes(2)),
    { timeoutMs: 45_000, what: 'withdrawals for both families' },
  );
  from = session.received.length;
  session.mark(`peer re-announced ${CHURN.map((r) => r.prefix).join(' and ')}`);
  for (const route of CHURN) await peer.announceRoute(route);
  await waitFor(() => updates(from).some((u) => u.nlri) && updates(from).some((u) => u.reach.includes(2)), {
    timeoutMs: 45_000,
    what: 're-announcements for both families',
  });
}

async function capture(scenario: Scenario, peer: PeerHandle): Promise<Received[]> {
  const session = await Session.open(scenario);
  try {
    await waitInitialTable(session);
    const open = session.received.find((r) => typeOf(r.bytes) === 1);
    const enhanced = open !== undefined && peerCapabilities(open.bytes).has(70);
    await refresh(session, 1, enhanced);
    await refresh(session, 2, enhanced);
    await churn(session, peer);
    await sleep(1_000);
    session.mark('peer was told to shut the session down');
    await peer.shutdownNeighbor(scenario.localAddress, `brindle capture ${scenario.name}`);
    await waitFor(() => has(session, 0, (m) => typeOf(m) === 3) || session.isClosed, {
      timeoutMs: 20_000,
      what: 'Cease NOTIFICATION',
    });
    await sleep(200);
    return session.received;
  } catch (error) {
    const seen = session.received.map((r) => describe(r.bytes, undefined)).join('; ');
    throw new Error(`${scenario.peer}-${scenario.name}: ${String(error)}; received so far: ${seen}`, {
      cause: error,
    });
  } finally {
    session.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// Fixture files

const TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'OPEN',
  2: 'UPDATE',
  3: 'NOTIFICATION',
  4: 'KEEPALIVE',
  5: 'ROUTE-REFRESH',
};

function describeFromTshark(decoded: TsharkBgpMessage): string {
  const { withdrawn, nlri, mpReach, mpUnreach } = decoded.prefixes;
  const fmt = (label: string, list: readonly { prefix: string; pathId?: string }[]): string =>
    list.length === 0
      ? ''
      : ` ${label}=${list.map((p) => (p.pathId === undefined ? p.prefix : `${p.prefix}#${p.pathId}`)).join(',')}`;
  const attrs = decoded.pathAttributes.map((a) => a['bgp.update.path_attribute.type_code']?.[0] ?? '?');
  return [
    attrs.length === 0 ? '' : ` attrs=${attrs.join(',')}`,
    fmt('withdrawn', withdrawn),
    fmt('nlri', nlri),
    fmt('mp_reach', mpReach),
    fmt('mp_unreach', mpUnreach),
  ].join('');
}

function describe(msg: Buffer, decoded: TsharkBgpMessage | undefined): string {
  const type = typeOf(msg);
  const name = TYPE_NAMES[type] ?? `type ${type}`;
  const eor = endOfRibAfi(msg);
  if (eor !== undefined) return `UPDATE End-of-RIB ${eor === 1 ? 'ipv4' : 'ipv6'} unicast`;
  if (type === 5)
    return `${name} afi=${msg.readUInt16BE(19)} subtype=${['request', 'BoRR', 'EoRR'][msg[21]] ?? msg[21]}`;
  if (type === 3) return `${name} code=${msg[19]}/${msg[20]}`;
  if (type === 1) return `${name} capabilities=${[...peerCapabilities(msg)].join(',')}`;
  return decoded === undefined || type !== 2 ? name : `${name}${describeFromTshark(decoded)}`;
}

/** tshark's reading of each message it can decode (it refuses messages over 4096 bytes). */
async function annotate(
  scenario: Scenario,
  messages: readonly Buffer[],
): Promise<(TsharkBgpMessage | undefined)[]> {
  const fits = messages.filter((m) => m.length <= TSHARK_MAX_MESSAGE);
  try {
    const decoded = await tsharkDecode(fits, { asnLength: 4 });
    return messages.map((m) => (m.length <= TSHARK_MAX_MESSAGE ? decoded[fits.indexOf(m)] : undefined));
  } catch (error) {
    console.warn(`${scenario.peer}-${scenario.name}: no tshark annotations (${String(error)})`);
    return messages.map(() => undefined);
  }
}

async function writeFixture(
  scenario: Scenario,
  version: string,
  received: readonly Received[],
): Promise<string> {
  const decoded = await annotate(
    scenario,
    received.map((r) => r.bytes),
  );
  const sent = openMessage(scenario.localAs, scenario.localAddress).toString('hex');
  const lines = [
    `# peer=${scenario.peer} version=${version} session=${scenario.name}`,
    `# peer ${scenario.peerAddress} AS ${PEER_AS}; speaker ${scenario.localAddress} AS ${scenario.localAs}` +
      (scenario.localAs === PEER_AS ? ' (iBGP, route-reflector client)' : ' (eBGP)') +
      (scenario.addPath ? '; peer configured for ADD-PATH send+receive' : ''),
    `# speaker OPEN (caps MP v4+v6, RR, enhanced RR, 4-octet AS, ADD-PATH v4+v6 both, ext msg, GR): ${sent}`,
    '# One message per line in receive order, each after a comment: index, type, and for UPDATEs the',
    '# attribute type codes and prefixes as tshark reads them (prefix#pathid with ADD-PATH).',
  ];
  received.forEach((r, i) => {
    if (r.note !== undefined) lines.push(`# -- ${r.note}`);
    lines.push(`# ${i + 1} ${describe(r.bytes, decoded[i])}`, r.bytes.toString('hex'));
  });
  const file = `${OUT_DIR}${scenario.peer}-${scenario.name}.hex`;
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

// ---------------------------------------------------------------------------------------------------
// Inner run (inside the speaker namespace)

async function startPeer(kind: PeerKind, netns: string, cleanup: Cleanup): Promise<PeerHandle> {
  const options = peerOptions(kind, netns);
  if (kind === 'bird2') return startBird(options, cleanup);
  if (kind === 'gobgp') return startGobgp(options, cleanup);
  return startFrr(options, cleanup);
}

async function capturePeer(
  kind: PeerKind,
  version: string,
  netns: string,
  cleanup: Cleanup,
): Promise<number> {
  const peer = await startPeer(kind, netns, cleanup);
  let failures = 0;
  for (const scenario of SCENARIOS.filter((s) => s.peer === kind)) {
    try {
      const received = await capture(scenario, peer);
      console.log(`${await writeFixture(scenario, version, received)}: ${received.length} messages`);
    } catch (error) {
      failures += 1;
      console.error(String(error), `\n${kind} log tail:\n${peer.daemon.output().slice(-4000)}`);
    }
  }
  await peer.stop();
  return failures;
}

async function inner(peersNetns: string): Promise<void> {
  const cleanup = new Cleanup();
  const versions = await peerVersions();
  let failures = 0;
  try {
    await mkdir(OUT_DIR, { recursive: true });
    for (const kind of [...new Set(SCENARIOS.map((s) => s.peer))]) {
      const version = versions[kind];
      if (version === undefined) console.warn(`${kind} is not installed: skipped`);
      else failures += await capturePeer(kind, version, peersNetns, cleanup);
    }
  } finally {
    await cleanup.run();
  }
  if (failures > 0) throw new Error(`${failures} capture(s) failed`);
}

// ---------------------------------------------------------------------------------------------------
// Outer run (root namespace): namespaces, then this script again inside the speaker namespace.

async function buildNamespaces(cleanup: Cleanup): Promise<[string, string]> {
  const speaker = await createNetns('capture-speaker', cleanup);
  const peers = await createNetns('capture-peers', cleanup);
  // Stragglers (if the inner run dies) are processes in our own namespaces: stop them by pid.
  cleanup.add(() => killNetnsPids(peers));
  cleanup.add(() => killNetnsPids(speaker));
  const speakerAddresses = [
    '192.0.2.1/24',
    ...SCENARIOS.map((s) => `${s.localAddress}/24`),
    '2001:db8::1/64',
  ];
  const peerAddresses = Object.values(PEER_ADDRESSES).flatMap(([v4, v6]) => [`${v4}/24`, `${v6}/64`]);
  await createVeth(
    { netns: speaker, ifname: SPEAKER_IF, addresses: speakerAddresses },
    { netns: peers, ifname: PEERS_IF, addresses: peerAddresses },
  );
  return [speaker, peers];
}

async function killNetnsPids(netns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'pids', netns]).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

async function runInside(speakerNetns: string, peersNetns: string): Promise<number | null> {
  const script = fileURLToPath(import.meta.url);
  const [file, args] = inNetns(speakerNetns, process.execPath, [
    ...process.execArgv,
    script,
    INSIDE_FLAG,
    peersNetns,
  ]);
  const child = spawn(file, args, { stdio: 'inherit' });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    return await new Promise((resolve) => child.once('close', (code) => resolve(code)));
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
}

async function outer(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root: the capture needs network namespaces');
  const cleanup = new Cleanup();
  try {
    const [speaker, peers] = await buildNamespaces(cleanup);
    return (await runInside(speaker, peers)) ?? 1;
  } finally {
    await cleanup.run();
  }
}

async function main(): Promise<void> {
  const insideAt = process.argv.indexOf(INSIDE_FLAG);
  if (insideAt >= 0) {
    await inner(process.argv[insideAt + 1]);
    return;
  }
  process.exitCode = await outer();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

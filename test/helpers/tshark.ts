/**
 * Independent BGP decoder for golden tests: raw BGP messages are wrapped into a pcap by `text2pcap`
 * (fabricated Ethernet/IPv4/TCP headers, one TCP stream, port 179) and dissected by `tshark -T pdml`.
 * PDML is used rather than `-T json` because it keeps repeated fields in wire order and shows the tree
 * nesting, which lets us group fields per path attribute, per capability and per prefix.
 *
 * Field names used by tshark 4.0 (all values are strings as tshark shows them: decimal numbers,
 * dotted/colon addresses, `0x..` for bit fields, `aa:bb:..` for raw bytes).
 *
 * Header / type
 *   bgp.marker, bgp.length, bgp.type (1 OPEN, 2 UPDATE, 3 NOTIFICATION, 4 KEEPALIVE, 5 ROUTE-REFRESH)
 * OPEN
 *   bgp.open.version, bgp.open.myas (AS_TRANS 23456 when the real AS is 4-octet), bgp.open.holdtime,
 *   bgp.open.identifier, bgp.open.opt.len, bgp.open.opt.param.type (2 = capabilities), bgp.open.opt.param.len
 * Capabilities (one `bgp.cap` subtree each; see TsharkBgpMessage.capabilities)
 *   every capability           bgp.cap.type, bgp.cap.length
 *   1  multiprotocol           bgp.cap.mp.afi, bgp.cap.reserved, bgp.cap.mp.safi
 *   2  route refresh           (type/length only)
 *   5  extended next hop       bgp.cap.enh.afi, bgp.cap.enh.safi, bgp.cap.enh.nhafi
 *   6  extended message       (type/length only)
 *   64 graceful restart        bgp.cap.gr.timers, bgp.cap.gr.timers.restart_flag,
 *                              bgp.cap.gr.timers.notification_flag, bgp.cap.gr.timers.restart_time,
 *                              then per family bgp.cap.gr.afi, bgp.cap.gr.safi, bgp.cap.gr.flag,
 *                              bgp.cap.gr.flag.pfs
 *   65 4-octet AS              bgp.cap.4as
 *   69 ADD-PATH                per family bgp.cap.ap.afi, bgp.cap.ap.safi, bgp.cap.ap.sendreceive (1/2/3)
 *   70 enhanced route refresh  (type/length only)
 *   71 long-lived GR           not decoded: bgp.cap.unknown = raw bytes (`00:01:01:80:00:0e:10`)
 *   73 FQDN                    bgp.cap.orf.fqdn.hostname.len, bgp.cap.orf.fqdn.hostname,
 *                              bgp.cap.orf.fqdn.domain_name.len, bgp.cap.orf.fqdn.domain_name
 *   9 (role), 75 (software version) and other unknown codes: bgp.cap.unknown = raw bytes
 * UPDATE (one `bgp.update.path_attribute` subtree each; see TsharkBgpMessage.pathAttributes)
 *   bgp.update.withdrawn_routes.length, bgp.update.path_attributes.length
 *   every attribute            bgp.update.path_attribute.flags (`0x40`), .flags.optional/.transitive/
 *                              .partial/.extended_length, bgp.update.path_attribute.type_code,
 *                              bgp.update.path_attribute.length
 *   1  ORIGIN                  bgp.update.path_attribute.origin (0 IGP, 1 EGP, 2 INCOMPLETE)
 *   2  AS_PATH                 bgp.update.path_attribute.as_path_segment.type (1 SET, 2 SEQUENCE),
 *                              .as_path_segment.length, .as_path_segment.as2 OR .as_path_segment.as4
 *   3  NEXT_HOP                bgp.update.path_attribute.next_hop
 *   4  MED                     bgp.update.path_attribute.multi_exit_disc
 *   5  LOCAL_PREF              bgp.update.path_attribute.local_pref
 *   6  ATOMIC_AGGREGATE        (type_code/length only)
 *   7  AGGREGATOR              bgp.update.path_attribute.aggregator_as, .aggregator_origin
 *   8  COMMUNITIES             bgp.update.path_attribute.community_as + .community_value per community;
 *                              well-known ones (NO_EXPORT...) give .community_wellknown = `0xffffff01`
 *   9  ORIGINATOR_ID           bgp.update.path_attribute.originator_id
 *   10 CLUSTER_LIST            bgp.path_attribute.cluster_id (one per id; note: no `update.` in the name)
 *   14 MP_REACH_NLRI           bgp.update.path_attribute.mp_reach_nlri.afi, .mp_reach_nlri.safi,
 *                              .mp_reach_nlri.next_hop (raw, includes the length octet: do not use),
 *                              .mp_reach_nlri.next_hop.ipv4, .mp_reach_nlri.next_hop.ipv6,
 *                              .mp_reach_nlri.next_hop.ipv6.link_local, .mp_reach_nlri.nbr_snpa;
 *                              prefixes bgp.mp_reach_nlri_ipv4_prefix / bgp.mp_reach_nlri_ipv6_prefix
 *   15 MP_UNREACH_NLRI         bgp.update.path_attribute.mp_unreach_nlri.afi, .mp_unreach_nlri.safi;
 *                              prefixes bgp.mp_unreach_nlri_ipv4_prefix / bgp.mp_unreach_nlri_ipv6_prefix
 *   16 EXTENDED_COMMUNITIES    per community bgp.ext_com.type (`0x00`), bgp.ext_com.stype_tr_as2 |
 *                              stype_tr_IP4 | stype_tr_as4 (`0x02` route target, `0x03` origin),
 *                              bgp.ext_com.value_as2 | value_IP4 | value_as4, bgp.ext_com.value_an4 | value_an2
 *   17 AS4_PATH                same names as AS_PATH, always ...as_path_segment.as4
 *   18 AS4_AGGREGATOR          same names as AGGREGATOR (aggregator_as, aggregator_origin)
 *   32 LARGE_COMMUNITY         bgp.large_communities.ga, bgp.large_communities.ldp1, bgp.large_communities.ldp2
 *   withdrawn routes           bgp.withdrawn_prefix;  NLRI: bgp.nlri_prefix
 *   every prefix               bgp.prefix_length (shared by all prefix kinds), bgp.nlri_path_id (ADD-PATH,
 *                              also for withdrawn and MP prefixes); see TsharkBgpMessage.prefixes
 *   End-of-RIB                 IPv4: both lengths 0 and nothing else; other families: a lone MP_UNREACH_NLRI
 *                              with afi/safi and an empty bgp.update.path_attribute.mp_unreach_nlri
 * NOTIFICATION
 *   bgp.notify.major_error, then the subcode under a name that depends on the major code:
 *   bgp.notify.minor_error (1 header), .minor_error_open (2), .minor_error_update (3),
 *   .minor_error_expired (4), .minor_error_state (5), .minor_error_cease (6), .minor_error_capability (7);
 *   data: bgp.notify.minor_data (raw bytes), bgp.notify.error_open.bad_peer_as (2/2), capabilities as
 *   `bgp.cap.*` (2/7); Cease 6/2 and 6/4 shutdown communication (RFC 9003):
 *   bgp.notify.communication_length, bgp.notify.communication (UTF-8 text)
 * ROUTE-REFRESH
 *   bgp.route_refresh.afi, bgp.route_refresh.subtype (0 request, 1 BoRR, 2 EoRR), bgp.route_refresh.safi
 *
 * Extended messages (RFC 8654): tshark 4.0 reports "Length is invalid" for any message over 4096 octets
 * and decodes nothing of it, so tsharkDecode refuses such input up front.
 *
 * ADD-PATH: tshark 4.0 has no preference to force it, and it does not remember the ADD-PATH capability
 * from the OPEN either. Every NLRI block (IPv4 NLRI, withdrawn routes, MP_REACH/MP_UNREACH for IPv4/IPv6)
 * goes through a heuristic: it is read as ADD-PATH when it parses as [path id][len][prefix] entries and
 * does not parse as plain [len][prefix] entries (or the plain reading would contain a 0/0 prefix that is
 * not alone). Small path ids (leading 00 octets read as 0/0) are therefore detected reliably; path ids
 * whose octets happen to form valid prefixes are not. `{ addPath: true | false }` cannot steer tshark, so
 * it verifies instead: it throws when tshark's reading disagrees (a path id missing, or an unexpected one).
 *
 * ASN length: preference `bgp.asn_len` (`Auto-detect` default, `2`, `4`), set with `-o bgp.asn_len:4`.
 * Auto-detect looks only at the AS_PATH bytes (never at the OPEN): it picks the reading whose segment
 * lengths add up, and prefers 2 octets when both do. `{ asnLength: 2 | 4 }` sets the preference.
 * AS4_PATH/AS4_AGGREGATOR are always decoded as 4 octets.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type TsharkFields = Readonly<Record<string, readonly string[]>>;

export interface TsharkPrefix {
  /** `address/length`, e.g. `198.51.100.0/24` or `2001:db8:1::/48`. */
  readonly prefix: string;
  /** ADD-PATH path identifier, when tshark decoded one. */
  readonly pathId?: string;
}

export interface TsharkPrefixes {
  readonly withdrawn: readonly TsharkPrefix[];
  readonly nlri: readonly TsharkPrefix[];
  readonly mpReach: readonly TsharkPrefix[];
  readonly mpUnreach: readonly TsharkPrefix[];
}

export interface TsharkBgpMessage {
  /** Every `bgp.*` field of the message in wire order; repeated fields keep every value. */
  readonly fields: TsharkFields;
  /** The fields of each path attribute subtree (UPDATE), in wire order. */
  readonly pathAttributes: readonly TsharkFields[];
  /** The fields of each capability subtree (OPEN, or NOTIFICATION 2/7 data), in wire order. */
  readonly capabilities: readonly TsharkFields[];
  readonly prefixes: TsharkPrefixes;
  /** tshark expert-info messages (bad lengths, malformed data); empty for a clean message. */
  readonly expert: readonly string[];
  readonly malformed: boolean;
}

export interface TsharkDecodeOptions {
  /** Verify that every prefix was (true) or was not (false) read with an ADD-PATH path id. */
  readonly addPath?: boolean;
  /** Force the AS_PATH ASN width instead of tshark's auto-detection. */
  readonly asnLength?: 2 | 4;
  readonly timeoutMs?: number;
}

/** All values of one field (empty when absent). */
export function tsharkField(msg: TsharkBgpMessage | TsharkFields, name: string): string[] {
  const fields = isMessage(msg) ? msg.fields : msg;
  return [...(fields[name] ?? [])];
}

function isMessage(value: TsharkBgpMessage | TsharkFields): value is TsharkBgpMessage {
  return 'prefixes' in value && 'fields' in value;
}

/** Decode whole BGP messages (each starting with the 16-octet marker) with tshark, one result per message. */
export async function tsharkDecode(
  messages: readonly Uint8Array[],
  options: TsharkDecodeOptions = {},
): Promise<TsharkBgpMessage[]> {
  messages.forEach(checkFraming);
  if (messages.length === 0) return [];
  const dir = await mkdtemp(join(tmpdir(), 'brindle-tshark-'));
  try {
    const pdml = await runTshark(dir, messages, options);
    const decoded = parsePdml(pdml);
    if (decoded.length !== messages.length) {
      throw new Error(`tshark decoded ${decoded.length} BGP messages, expected ${messages.length}`);
    }
    if (options.addPath !== undefined) checkAddPath(decoded, options.addPath);
    return decoded;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** tshark 4.0 flags every message over 4096 octets as "Length is invalid" (no RFC 8654 support). */
export const TSHARK_MAX_MESSAGE = 4096;

// A wrong length field would desynchronise the TCP stream and shift every later message.
function checkFraming(msg: Uint8Array, index: number): void {
  const badMarker = msg.length < 19 || msg.subarray(0, 16).some((b) => b !== 0xff);
  const length = msg.length >= 19 ? (msg[16] << 8) | msg[17] : -1;
  if (badMarker || length !== msg.length) {
    throw new Error(
      `message ${index} is not one whole BGP message (${msg.length} bytes, length field ${length})`,
    );
  }
  if (length > TSHARK_MAX_MESSAGE) {
    throw new Error(`message ${index} has ${length} bytes: tshark 4.0 decodes at most ${TSHARK_MAX_MESSAGE}`);
  }
}

// One packet per message keeps the message boundaries obvious to tshark.
function hexdump(messages: readonly Uint8Array[]): string {
  const out: string[] = [];
  for (const msg of messages) {
    for (let off = 0; off < msg.length; off += 16) {
      const bytes = [...msg.subarray(off, off + 16)].map((b) => b.toString(16).padStart(2, '0'));
      out.push(`${off.toString(16).padStart(6, '0')} ${bytes.join(' ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}

async function runTshark(
  dir: string,
  messages: readonly Uint8Array[],
  options: TsharkDecodeOptions,
): Promise<string> {
  const timeout = options.timeoutMs ?? 60_000;
  const text = join(dir, 'messages.txt');
  const pcap = join(dir, 'messages.pcapng');
  await writeFile(text, hexdump(messages));
  await execFileAsync('text2pcap', ['-q', '-4', '192.0.2.1,192.0.2.2', '-T', '179,40179', text, pcap], {
    timeout,
  });
  const args = ['-r', pcap, '-n', '-T', 'pdml', '-J', 'bgp', '-d', 'tcp.port==179,bgp'];
  const prefs = ['bgp.desegment:TRUE', 'tcp.desegment_tcp_streams:TRUE'];
  if (options.asnLength !== undefined) prefs.push(`bgp.asn_len:${options.asnLength}`);
  for (const pref of prefs) args.push('-o', pref);
  // A private config dir keeps the user's own Wireshark preferences and "Decode As" rules out.
  const env = { ...process.env, WIRESHARK_CONFIG_DIR: dir };
  const { stdout } = await execFileAsync('tshark', args, { timeout, env, maxBuffer: 512 * 1024 * 1024 });
  return stdout;
}

class MessageBuilder {
  readonly fields: Record<string, string[]> = {};
  readonly pathAttributes: Record<string, string[]>[] = [];
  readonly capabilities: Record<string, string[]>[] = [];
  readonly prefixes = { withdrawn: [], nlri: [], mpReach: [], mpUnreach: [] } as Record<
    keyof TsharkPrefixes,
    TsharkPrefix[]
  >;
  readonly expert: string[] = [];
  malformed = false;
  /** Open subtrees that group fields, with the field depth at which each was opened. */
  readonly groups: { depth: number; fields: Record<string, string[]> }[] = [];
  pendingPathId: string | undefined;
  pendingLength: string | undefined;

  build(): TsharkBgpMessage {
    const { fields, pathAttributes, capabilities, prefixes, expert, malformed } = this;
    return { fields, pathAttributes, capabilities, prefixes, expert, malformed };
  }
}

const GROUP_FIELDS: Readonly<Record<string, 'pathAttributes' | 'capabilities'>> = {
  'bgp.update.path_attribute': 'pathAttributes',
  'bgp.cap': 'capabilities',
};

const PREFIX_FIELDS: Readonly<Record<string, keyof TsharkPrefixes>> = {
  'bgp.withdrawn_prefix': 'withdrawn',
  'bgp.nlri_prefix': 'nlri',
  'bgp.mp_reach_nlri_ipv4_prefix': 'mpReach',
  'bgp.mp_reach_nlri_ipv6_prefix': 'mpReach',
  'bgp.mp_unreach_nlri_ipv4_prefix': 'mpUnreach',
  'bgp.mp_unreach_nlri_ipv6_prefix': 'mpUnreach',
};

function push(map: Record<string, string[]>, name: string, value: string): void {
  (map[name] ??= []).push(value);
}

function addField(msg: MessageBuilder, name: string, show: string, depth: number, leaf: boolean): void {
  if (name === '_ws.expert.message') msg.expert.push(show);
  if (!name.startsWith('bgp.')) return;
  push(msg.fields, name, show);
  for (const group of msg.groups) push(group.fields, name, show);
  const group = GROUP_FIELDS[name];
  if (group !== undefined) {
    const fields: Record<string, string[]> = { [name]: [show] };
    msg[group].push(fields);
    if (!leaf) msg.groups.push({ depth, fields });
  }
  if (name === 'bgp.nlri_path_id') msg.pendingPathId = show;
  if (name === 'bgp.prefix_length') msg.pendingLength = show;
  const section = PREFIX_FIELDS[name];
  if (section !== undefined) {
    const prefix = `${show}/${msg.pendingLength ?? '?'}`;
    msg.prefixes[section].push(
      msg.pendingPathId === undefined ? { prefix } : { prefix, pathId: msg.pendingPathId },
    );
    msg.pendingPathId = undefined;
    msg.pendingLength = undefined;
  }
}

const TAG = /<(\/?)(packet|proto|field)((?:\s+[\w.:-]+="[^"]*")*)\s*(\/?)>/g;
const ATTR = /([\w.:-]+)="([^"]*)"/g;
const ENTITIES: Readonly<Record<string, string>> = { quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#X')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

function attributes(text: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const m of text.matchAll(ATTR)) attrs.set(m[1], unescapeXml(m[2]));
  return attrs;
}

/** Turns tshark's PDML into one message per `<proto name="bgp">` element, in document order. */
function parsePdml(pdml: string): TsharkBgpMessage[] {
  const done: MessageBuilder[] = [];
  let current: MessageBuilder | undefined;
  let packetStart = 0;
  let depth = 0;
  for (const [, closing, tag, attrText, selfClosing] of pdml.matchAll(TAG)) {
    const opening = closing === '';
    const attrs = attributes(attrText);
    if (tag === 'packet') {
      packetStart = done.length;
      current = undefined;
    } else if (tag === 'proto') {
      current = undefined;
      const name = attrs.get('name');
      if (opening && name === 'bgp' && selfClosing === '') {
        current = new MessageBuilder();
        done.push(current);
        depth = 0;
      }
      // tshark reports a dissector exception as a sibling pseudo-protocol after the message it hit.
      if (opening && name === '_ws.malformed' && done.length > packetStart)
        done[done.length - 1].malformed = true;
    } else if (current !== undefined) {
      depth = fieldTag(current, attrs, depth, opening, selfClosing !== '');
    }
  }
  return done.map((m) => m.build());
}

/** Handles one `<field>` tag and returns the new nesting depth. */
function fieldTag(
  msg: MessageBuilder,
  attrs: Map<string, string>,
  depth: number,
  opening: boolean,
  selfClosing: boolean,
): number {
  if (!opening) {
    const outer = depth - 1;
    while (msg.groups.length > 0 && msg.groups[msg.groups.length - 1].depth >= outer) msg.groups.pop();
    return outer;
  }
  addField(msg, attrs.get('name') ?? '', attrs.get('show') ?? '', depth, selfClosing);
  return selfClosing ? depth : depth + 1;
}

function checkAddPath(messages: readonly TsharkBgpMessage[], expected: boolean): void {
  messages.forEach((msg, index) => {
    const { withdrawn, nlri, mpReach, mpUnreach } = msg.prefixes;
    const all = [...withdrawn, ...nlri, ...mpReach, ...mpUnreach];
    const wrong = all.filter((p) => (p.pathId !== undefined) !== expected);
    if (wrong.length > 0) {
      const what = expected ? 'without an ADD-PATH path id' : 'with an unexpected ADD-PATH path id';
      throw new Error(
        `tshark read ${wrong.length} prefix(es) of message ${index} ${what} (first: ${wrong[0].prefix}); ` +
          'tshark 4.0 only guesses ADD-PATH from the NLRI bytes',
      );
    }
  });
}

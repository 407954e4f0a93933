// `brindlectl bfd`: the daemon's BFD sessions (GET /api/v1/bfd), like `birdc show bfd sessions`:
// state, discriminators, the negotiated intervals and the last time each went Down, and why.

import { OUTPUT_OPTION } from './command.ts';
import type { Command } from './command.ts';
import { outputFormat, print } from './daemon.ts';
import { callDaemon } from './socket.ts';
import { formatTable } from './output.ts';

interface BfdSessionRow {
  peer: string;
  local: string;
  interface: string;
  state: string;
  remoteState: string;
  localDiscriminator: number;
  remoteDiscriminator: number;
  detectMult: number;
  transmitIntervalMs: number;
  detectionTimeMs: number;
  requiredMinRxIntervalMs: number;
  remoteMinRxIntervalMs: number;
  remoteDesiredMinTxIntervalMs: number;
  lastDown: { at: string; diagnostic: string } | null;
  packetsSent: number;
  packetsReceived: number;
  lateTransmissions: number;
  longestTxGapMs: number;
}

interface BfdDoc {
  sessions: BfdSessionRow[];
  failed: { peer: string; reason: string }[];
}

const discr = (n: number) => (n === 0 ? '-' : `0x${n.toString(16).padStart(8, '0')}`);
const lastDown = (r: BfdSessionRow) => (r.lastDown ? `${r.lastDown.at} ${r.lastDown.diagnostic}` : '-');

const WIDE = [
  'PEER',
  'INTERFACE',
  'LOCAL',
  'STATE',
  'REMOTE',
  'LOCAL DISCR',
  'REMOTE DISCR',
  'TX',
  'RX',
  'REMOTE RX',
  'REMOTE TX',
  'MULT',
  'DETECT',
  'SENT',
  'RECEIVED',
  'LATE',
  'LONGEST GAP',
  'LAST DOWN',
];
const NARROW = ['PEER', 'INTERFACE', 'STATE', 'LOCAL DISCR', 'REMOTE DISCR', 'TX', 'DETECT', 'LAST DOWN'];

function wideRow(r: BfdSessionRow): string[] {
  return [
    r.peer,
    r.interface,
    r.local,
    r.state,
    r.remoteState,
    discr(r.localDiscriminator),
    discr(r.remoteDiscriminator),
    `${r.transmitIntervalMs}ms`,
    `${r.requiredMinRxIntervalMs}ms`,
    `${r.remoteMinRxIntervalMs}ms`,
    `${r.remoteDesiredMinTxIntervalMs}ms`,
    String(r.detectMult),
    `${r.detectionTimeMs}ms`,
    String(r.packetsSent),
    String(r.packetsReceived),
    String(r.lateTransmissions),
    `${r.longestTxGapMs}ms`,
    lastDown(r),
  ];
}

function bfdTable(doc: BfdDoc, wide: boolean): string {
  if (doc.sessions.length === 0 && doc.failed.length === 0) return 'No BFD sessions.\n';
  const header = wide ? WIDE : NARROW;
  const columns = header.map((name) => WIDE.indexOf(name));
  const rows = doc.sessions.map((r) => {
    const cells = wideRow(r);
    return columns.map((i) => cells[i]);
  });
  const failed = doc.failed.map((f) => `Not started: ${f.peer}: ${f.reason}\n`).join('');
  return formatTable(header, rows) + failed;
}

export const bfdCommand: Command = {
  name: 'bfd',
  summary: 'Show BFD sessions: state, discriminators, intervals, last down',
  help: `usage: brindlectl bfd [-o table|wide|yaml|json]

The BFD sessions (RFC 5880/5881) of the BGP peers with failureDetectionMode BFDIfDirectlyConnected:
state, local and remote discriminators, the negotiated transmit interval (TX) and Detection Time
(DETECT), and when the session last went Down with the diagnostic. -o wide adds both sides'
advertised intervals, the packet counts, LATE (our packets sent after more than the negotiated
interval, which RFC 5880 §6.8.7 does not allow: a sign of a busy daemon) and the longest gap between
two of our packets while Up.`,
  options: [OUTPUT_OPTION],
  async run(args, context) {
    const doc = (await callDaemon(context.config().api.socket, '/api/v1/bfd')) as BfdDoc;
    print(context, args, doc, () => bfdTable(doc, outputFormat(args) === 'wide'));
  },
};

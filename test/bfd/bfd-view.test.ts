// GET /api/v1/bfd's document (api/bfd-view.ts): states and diagnostics by name, intervals in
// milliseconds, the last Down stamped in wall-clock time, sessions in address order.
import test from 'ava';
import { bfdDocument } from '../../src/api/bfd-view.ts';
import { BfdState, Diag } from '../../src/bfd/packet.ts';
import type { BfdSessionView } from '../../src/bfd/sessions.ts';

const VIEW: BfdSessionView = {
  peerAddress: '10.0.0.2',
  localAddress: '10.0.0.1',
  interfaceName: 'eth0',
  multihop: false,
  state: BfdState.Up,
  remoteState: BfdState.Up,
  localDiscr: 0x11,
  remoteDiscr: 0x22,
  localDiag: Diag.NoDiagnostic,
  detectMult: 3,
  remoteDetectMult: 5,
  transmitIntervalUs: 100_000,
  detectionTimeUs: 500_000,
  desiredMinTxIntervalUs: 100_000,
  requiredMinRxIntervalUs: 100_000,
  remoteDesiredMinTxIntervalUs: 100_000,
  remoteMinRxIntervalUs: 50_000,
  pollActive: false,
  lastDown: { from: BfdState.Up, to: BfdState.Down, diag: Diag.ControlDetectionTimeExpired, atMs: 1000 },
  packetsReceived: 7,
  packetsSent: 8,
  stateChanges: 4,
  sourcePort: 49152,
  lateTransmissions: 2,
  txGapsBeyondDetectionTime: 0,
  longestTxGapUpUs: 123_456,
};

test('one session, with its last Down and the sessions not started', (t) => {
  const source = {
    views: () => [{ ...VIEW, peerAddress: '10.0.0.9', lastDown: undefined }, VIEW],
    failed: new Map([['fd00::9', 'EADDRNOTAVAIL']]),
  };
  const doc = bfdDocument(source, Date.UTC(2026, 0, 1, 0, 0, 10), 11_000);
  t.deepEqual(
    doc.sessions.map((s) => s.peer),
    ['10.0.0.2', '10.0.0.9'],
  );
  t.like(doc.sessions[0], {
    state: 'Up',
    remoteState: 'Up',
    localDiscriminator: 0x11,
    remoteDiscriminator: 0x22,
    transmitIntervalMs: 100,
    detectionTimeMs: 500,
    remoteMinRxIntervalMs: 50,
    lateTransmissions: 2,
    longestTxGapMs: 123.456,
    lastDown: { at: '2026-01-01T00:00:00.000Z', diagnostic: 'Control Detection Time Expired' },
  });
  t.is(doc.sessions[1].lastDown, null);
  t.deepEqual(doc.failed, [{ peer: 'fd00::9', reason: 'EADDRNOTAVAIL' }]);
});

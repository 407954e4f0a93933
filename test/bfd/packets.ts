// A BFD Control packet the tests vary: Down, no remote discriminator yet, slow TX (RFC 5880 §6.8.3).
import { BfdState, Diag } from '../../src/bfd/packet.ts';
import type { ControlPacket } from '../../src/bfd/packet.ts';

export const DOWN_PACKET: ControlPacket = {
  diag: Diag.NoDiagnostic,
  state: BfdState.Down,
  poll: false,
  final: false,
  controlPlaneIndependent: false,
  demand: false,
  detectMult: 3,
  myDiscriminator: 1,
  yourDiscriminator: 0,
  desiredMinTxIntervalUs: 1_000_000,
  requiredMinRxIntervalUs: 100_000,
  requiredMinEchoRxIntervalUs: 0,
};

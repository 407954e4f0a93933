// Logging: pino JSON lines to stdout (journald picks them up), with fixed field names across modules:
// `peer`, `afi`, `prefix`, `event`, `state`, `reason`. Modules take a Logger; tests pass silentLogger.

import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { service: 'brindle' }, timestamp: pino.stdTimeFunctions.isoTime });
}

export const silentLogger: Logger = pino({ level: 'silent' });

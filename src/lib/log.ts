// Logging: pino with fixed field names across modules: `peer`, `afi`, `prefix`, `event`, `state`,
// `reason`. Modules take a Logger; tests pass silentLogger.
//
// Two renderings of the same records: JSON lines (journald and log shippers keep every field) and,
// for a person at a terminal, one line of text each — time, level name, message, then the fields
// as key=value. `auto` picks text when stdout is a terminal and systemd is not reading it.

import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'text';

export function createLogger(level = 'info', format: LogFormat = 'auto'): Logger {
  const options = { level, base: { service: 'brindle' }, timestamp: pino.stdTimeFunctions.isoTime };
  return useText(format) ? pino(options, textDestination(process.stdout)) : pino(options);
}

export const silentLogger: Logger = pino({ level: 'silent' });

/** systemd sets JOURNAL_STREAM when stdout is the journal, which keeps JSON's fields searchable. */
function useText(format: LogFormat): boolean {
  if (format !== 'auto') return format === 'text';
  return process.stdout.isTTY === true && process.env.JOURNAL_STREAM === undefined;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** ANSI colours for the level names: warnings and errors stand out on a terminal. */
const LEVEL_COLOURS: Readonly<Record<number, string>> = { 40: '\x1b[33m', 50: '\x1b[31m', 60: '\x1b[31;1m' };
const RESET = '\x1b[0m';
/** Fields the line shows in its own columns, or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** `05:17:03.123 WARN  message  peer=Node_10_0_0_1 reason="hold timer expired"`. */
export function textLine(record: Record<string, unknown>, colour: boolean): string {
  const level = typeof record.level === 'number' ? record.level : 30;
  const name = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const shown = colour && LEVEL_COLOURS[level] ? `${LEVEL_COLOURS[level]}${name}${RESET}` : name;
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const fields = Object.entries(record)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return `${time} ${shown} ${typeof record.msg === 'string' ? record.msg : ''}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

/** A value as it reads best: bare when it has no space or quote, JSON-quoted otherwise. */
function fieldText(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** A pino destination that renders each JSON line as text (a line it cannot read passes as is). */
function textDestination(out: NodeJS.WriteStream): DestinationStream {
  const colour = out.isTTY === true && process.env.NO_COLOR === undefined;
  return {
    write(line: string) {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        out.write(line);
        return;
      }
      out.write(
        typeof record === 'object' && record !== null
          ? textLine(record as Record<string, unknown>, colour)
          : line,
      );
    },
  };
}

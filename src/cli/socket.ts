// brindlectl's client of the running daemon: JSON over HTTP on its unix socket (api.socket). Reads and
// the commands that change state (reset, reload, log level) all go this way, never over TCP: changing
// state needs access to the socket file. A daemon that does not answer is exit 3; an error it answers
// with is its message, exit 1.

import http from 'node:http';
import { CliError, EXIT } from './command.ts';

const REQUEST_TIMEOUT_MS = 5000;

export interface SocketRequest {
  readonly method?: 'GET' | 'POST' | 'PUT';
  /** Sent as JSON. */
  readonly body?: unknown;
  /** A walk over a large table may take longer than an ordinary call. */
  readonly timeoutMs?: number;
}

/** Calls `path` of the daemon's API over its socket and parses the JSON answer. */
export function callDaemon(socketPath: string, path: string, options: SocketRequest = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const unavailable = (why: string) =>
      reject(
        new CliError(EXIT.unavailable, [
          `Brindle is not running, or its API socket ${socketPath} does not answer (${why}).`,
        ]),
      );
    const headers = payload === undefined ? {} : { 'content-type': 'application/json' };
    const req = http.request(
      { socketPath, path, method: options.method ?? 'GET', headers, timeout: timeoutMs },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if ((res.statusCode ?? 500) >= 400) return reject(new CliError(EXIT.failed, errorLines(body)));
          resolve(JSON.parse(body));
        });
      },
    );
    req.on('timeout', () => {
      req.destroy();
      unavailable(`no answer within ${timeoutMs / 1000} s`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => unavailable(e.code ?? e.message));
    req.end(payload);
  });
}

/** The daemon's `{error, errors?}` as lines: the message, then each detail indented. */
function errorLines(body: string): string[] {
  const parsed = safeParse(body);
  const message = typeof parsed?.error === 'string' ? parsed.error : body;
  const details = Array.isArray(parsed?.errors) ? parsed.errors.map((e) => `  ${String(e)}`) : [];
  return [message, ...details];
}

function safeParse(text: string): { error?: unknown; errors?: unknown } | undefined {
  try {
    return JSON.parse(text) as { error?: unknown; errors?: unknown };
  } catch {
    return undefined;
  }
}

// GET /ui/: the web console — one page, one script, one style sheet, built from src/ui by
// `npm run build:ui` into dist/ui and read from there on first use. Everything is served with a strict
// Content-Security-Policy: the page runs only its own script, talks only to this daemon and renders
// peer-sent text (AS paths, shutdown communications, FQDN hostnames) as text, so even a bug that let
// markup through would find no inline script to run. Without a bundle the console answers 503 saying
// how to build it; the JSON API works either way.

import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { HttpError } from './http.ts';
import type { Reply } from './http.ts';

/**
 * Nothing but this daemon's own script, styles and API; `img-src data:` for the inline favicon and
 * SVG pictures; no framing, no forms, no base URL.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Brindle</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body><noscript>The Brindle console needs JavaScript; the JSON API is at /api/v1.</noscript></body>
</html>
`;

/** dist/ui beside src/ (running from source) or beside dist/api (running compiled). */
export function defaultConsoleDirectory(): string {
  const fromSource = fileURLToPath(new URL('../../dist/ui/', import.meta.url));
  return import.meta.url.includes('/dist/api/')
    ? fileURLToPath(new URL('../ui/', import.meta.url))
    : fromSource;
}

export class ConsoleAssets {
  private files: Map<string, Buffer> | undefined;

  constructor(private readonly directory = defaultConsoleDirectory()) {}

  /** GET /ui → /ui/, so the page's relative URLs resolve. */
  redirect(response: ServerResponse): Reply {
    response.writeHead(308, { location: '/ui/', 'content-length': 0 });
    response.end();
    return undefined;
  }

  page(response: ServerResponse): Reply {
    this.load();
    send(response, 'text/html; charset=utf-8', Buffer.from(PAGE));
    return undefined;
  }

  asset(name: string, response: ServerResponse): Reply {
    const body = this.load().get(name);
    const type = CONTENT_TYPES[name];
    if (!body || !type) throw new HttpError(404, `no console file "${name}"`);
    send(response, type, body);
    return undefined;
  }

  /** The built files, read once; a missing bundle is looked for again on the next request. */
  private load(): Map<string, Buffer> {
    if (this.files) return this.files;
    const files = new Map<string, Buffer>();
    try {
      for (const name of Object.keys(CONTENT_TYPES)) files.set(name, readFileSync(this.directory + name));
    } catch {
      throw new HttpError(503, 'the web console is not built: run `npm run build:ui` and reload');
    }
    this.files = files;
    return files;
  }
}

function send(response: ServerResponse, contentType: string, body: Buffer): void {
  response.writeHead(200, {
    'content-type': contentType,
    'content-length': body.length,
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-cache',
  });
  response.end(body);
}

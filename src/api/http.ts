// The API's HTTP plumbing on node:http: a route table of method + path pattern, JSON replies, bounded
// request bodies, and one place where every failure becomes a JSON error with a status code. A bad
// request never throws past the handler: the daemon must not crash on what a client sends.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.ts';

/** Request bodies are tiny JSON documents ({"level": "debug"}). */
const MAX_BODY_BYTES = 64 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  /** `:name` segments of the matched pattern, URL-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly raw: IncomingMessage;
  readonly response: ServerResponse;
}

/** A JSON (or text) reply; `undefined` means the handler wrote the response itself (streams). */
export type Reply =
  { readonly status?: number; readonly body: unknown; readonly contentType?: string } | undefined;
export type Handler = (request: ApiRequest) => Reply | Promise<Reply>;

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly handler: Handler;
}

export class RouteTable {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, segments: pattern.split('/').slice(1), handler });
    return this;
  }

  /** The handler for a request, or an HttpError: 404 for an unknown path, 405 for a known one. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } {
    const segments = path.split('/').slice(1);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments);
      if (!params) continue;
      if (route.method === method) return { handler: route.handler, params };
      allowed.push(route.method);
    }
    if (allowed.length === 0) throw new HttpError(404, `no such endpoint: ${path}`);
    throw new HttpError(405, `${method} is not allowed on ${path}`, { allow: allowed.join(', ') });
  }
}

function matchSegments(
  pattern: readonly string[],
  path: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i].startsWith(':')) {
      if (path[i] === '') return undefined;
      params[pattern[i].slice(1)] = decodeURIComponent(path[i]);
    } else if (pattern[i] !== path[i]) return undefined;
  }
  return params;
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = `${JSON.stringify(body, null, 2)}\n`;
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

export function errorBody(status: number, message: string): { error: string; status: number } {
  return { error: message, status };
}

/** The request body parsed as JSON, at most 64 KiB; 400/413/415 for anything else. */
export async function readJson(request: IncomingMessage): Promise<unknown> {
  const type = request.headers['content-type'];
  if (type !== undefined && !/^application\/json\b/i.test(type))
    throw new HttpError(415, `expected application/json, got ${type}`);
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'expected a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
}

/** The node:http request listener for a route table. */
export function serve(routes: RouteTable, log: Logger) {
  return (raw: IncomingMessage, response: ServerResponse): void => {
    void handle(routes, log, raw, response);
  };
}

async function handle(routes: RouteTable, log: Logger, raw: IncomingMessage, response: ServerResponse) {
  const method = raw.method ?? 'GET';
  let path = '?';
  try {
    const url = parseUrl(raw.url);
    path = url.pathname;
    const { handler, params } = routes.match(method, path);
    const reply = await handler({ method, path, params, query: url.searchParams, raw, response });
    if (reply === undefined) return;
    if (reply.contentType) {
      response.writeHead(reply.status ?? 200, {
        'content-type': reply.contentType,
        'cache-control': 'no-store',
      });
      response.end(reply.body);
    } else sendJson(response, reply.status ?? 200, reply.body);
    log.debug({ event: 'api-request', method, path, status: reply.status ?? 200 }, 'api request');
  } catch (error) {
    const status = error instanceof HttpError ? error.status : 500;
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof HttpError)
      log.debug({ event: 'api-request', method, path, status, reason: message }, 'api request refused');
    else log.error({ event: 'api-error', method, path, reason: message }, 'api request failed');
    sendJson(response, status, errorBody(status, message), error instanceof HttpError ? error.headers : {});
  }
}

function parseUrl(target: string | undefined): URL {
  try {
    const url = new URL(target ?? '/', 'http://brindle');
    decodeURIComponent(url.pathname);
    return url;
  } catch {
    throw new HttpError(400, 'malformed request target');
  }
}

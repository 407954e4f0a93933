// The plugin's fast path: the node's running Brindle serves IPAM on its control socket (api.socket,
// src/api/ipam-api.ts), where pools and blocks are already in memory. Only `node:` built-ins here, so
// a plugin process that gets its answer from the daemon never loads the datastore stack.
//
// What a failure means decides what the plugin does next:
//   unreachable  no socket, refused, not ours, or no IPAM there (404/405/501): the daemon did nothing;
//                use the datastore directly
//   lost         the connection closed before the answer (the daemon died mid-call): the daemon may
//                have committed the allocation or not; the datastore path's ADD is idempotent by
//                handle, so it returns what was committed or allocates afresh
//   timeout      the daemon accepted but did not answer in time: it may still commit, so the plugin
//                does not allocate beside it; CNI error 11 and the runtime retries (idempotent too)
//   IPAM error   the daemon's answer, as a CNI error

import { request } from 'node:http';
import type { WorkloadAddress } from '../ipam/workload.ts';
import { CNI_ERROR, cniCodeOfIpam, CniError } from './cni.ts';
import type { IpamBackend, PluginRequest } from './cni.ts';

export const DEFAULT_SOCKET = '/run/brindle/brindle.sock';
/** Longer than an allocation that has to claim a block on a slow etcd; shorter than kubelet's wait. */
const REQUEST_TIMEOUT_MS = 30_000;
const HANDLES = '/api/v1/ipam/handles/';

/** The daemon cannot serve this call and did nothing: the caller uses the datastore. */
export class DaemonUnavailable extends Error {
  constructor(
    readonly reason: 'unreachable' | 'lost',
    message: string,
  ) {
    super(message);
    this.name = 'DaemonUnavailable';
  }
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Connection errors before anything was sent: nobody is there to have done anything. */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES', 'EPERM', 'ENOTDIR']);

export class DaemonClient implements IpamBackend {
  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {}

  async assign(workload: PluginRequest): Promise<readonly WorkloadAddress[]> {
    const { handleId, ...rest } = workload;
    const answer = await this.call('PUT', handleId, rest);
    return answer.body.addresses as WorkloadAddress[];
  }

  async release(handleId: string): Promise<void> {
    await this.call('DELETE', handleId);
  }

  async addresses(handleId: string): Promise<readonly string[]> {
    return (await this.call('GET', handleId)).body.addresses as string[];
  }

  async close(): Promise<void> {}

  private async call(method: string, handleId: string, body?: object): Promise<Answer> {
    const answer = await this.exchange(method, HANDLES + encodeURIComponent(handleId), body);
    if (answer.status === 404 || answer.status === 405 || answer.status === 501) {
      throw new DaemonUnavailable('unreachable', `the daemon does not serve IPAM (HTTP ${answer.status})`);
    }
    if (answer.status >= 300) throw daemonError(answer);
    return answer;
  }

  private exchange(method: string, path: string, body: object | undefined): Promise<Answer> {
    const text = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      let sent = false;
      const req = request({
        // A connection of its own: `connect` tells whether the request can have reached the daemon.
        agent: false,
        socketPath: this.socketPath,
        method,
        path,
        headers: text === undefined ? {} : { 'content-type': 'application/json' },
        timeout: this.timeoutMs,
      });
      req.once('socket', (socket) => socket.once('connect', () => (sent = true)));
      req.once('timeout', () => {
        req.destroy();
        reject(
          new CniError(CNI_ERROR.tryAgainLater, `the daemon did not answer within ${this.timeoutMs} ms`),
        );
      });
      req.once('error', (error: NodeJS.ErrnoException) => reject(connectionError(error, sent)));
      req.once('response', (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', (error) => reject(connectionError(error, true)));
        response.once('end', () => {
          if (!response.complete)
            return reject(new DaemonUnavailable('lost', 'the daemon closed mid-answer'));
          resolve({ status: response.statusCode ?? 0, body: parseBody(Buffer.concat(chunks)) });
        });
      });
      req.end(text);
    });
  }
}

function connectionError(error: NodeJS.ErrnoException, sent: boolean): Error {
  if (error instanceof CniError) return error;
  if (!sent && UNREACHABLE.has(error.code ?? '')) {
    return new DaemonUnavailable('unreachable', `no daemon on the socket (${error.code})`);
  }
  return new DaemonUnavailable('lost', `the daemon connection failed (${error.code ?? error.message})`);
}

function parseBody(bytes: Buffer): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function daemonError({ status, body }: Answer): CniError {
  const message = typeof body.error === 'string' ? body.error : `the daemon answered HTTP ${status}`;
  const code = typeof body.code === 'string' ? cniCodeOfIpam(body.code) : CNI_ERROR.internal;
  return new CniError(code, message, typeof body.details === 'string' ? body.details : '');
}

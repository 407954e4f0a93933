// `brindle-wait-live`: systemd's ExecStartPost for Brindle's units (Type=exec). It polls the daemon's
// GET /health/live until it answers 200, so `systemctl start` returns, and units ordered after Brindle
// start, only once the daemon serves its API; it exits 1 when the deadline passes first. This stands in
// for sd_notify(READY=1), which needs a unix datagram socket that Node cannot open.

import { loadConfig } from '../config/config.ts';
import { parseListen } from './server.ts';

const USAGE = 'usage: brindle-wait-live [--config FILE] [--timeout SECONDS]';

/** The URL to probe for an `api.listen` value: a wildcard address is probed on loopback. */
export function liveUrl(listen: string): string {
  const { host, port } = parseListen(listen);
  const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${target.includes(':') ? `[${target}]` : target}:${port}/health/live`;
}

/** Polls `url` until it answers 200 (true) or `timeoutMs` passes (false). */
export async function waitLive(url: string, timeoutMs: number, intervalMs = 250): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.min(1000, left)) });
      await response.body?.cancel();
      if (response.status === 200) return true;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let file = process.env.BRINDLE_CONFIG;
  let timeoutSec = 30;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config' && argv[i + 1]) file = argv[++i];
    else if (argv[i] === '--timeout' && Number(argv[i + 1]) > 0) timeoutSec = Number(argv[++i]);
    else {
      console.error(USAGE);
      return 2;
    }
  }
  const loaded = loadConfig(file);
  if (!loaded.ok) {
    console.error(`brindle-wait-live: invalid configuration: ${loaded.errors.join('; ')}`);
    return 1;
  }
  const url = liveUrl(loaded.config.api.listen);
  if (await waitLive(url, timeoutSec * 1000)) return 0;
  console.error(`brindle-wait-live: ${url} did not answer 200 within ${timeoutSec} s`);
  return 1;
}

// Whether this start is a graceful restart (RFC 4724 §4.1) as far as a file can tell: while Brindle
// runs, `bgp.restartStateFile` holds when it was last alive and the longest Restart Time it announced.
// Peers keep its routes only when its sessions end without a NOTIFICATION (a crash, a kill, a lost
// host) and only for that Restart Time (on a long-lived graceful restart session, for the long-lived
// stale time after it), so a start that finds the file younger than that is a
// restart; a stop that sends Cease removes the file (the peers dropped the routes), a stop for a
// planned graceful restart refreshes it. A node also knows it restarted from the kernel routes it
// kept; a reflector has only this file.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../lib/log.ts';

/** How often the file says Brindle is alive: a crash is dated to within this. */
const HEARTBEAT_MS = 5_000;

interface Recorded {
  /** Wall-clock ms (Date.now()) of the last heartbeat. */
  readonly aliveAt: number;
  /** The longest Restart Time the sessions announced (§3): how long peers keep the routes. */
  readonly restartTimeSec: number;
}

/**
 * How long a peer keeps our routes once our sessions end without a NOTIFICATION: the Restart Time
 * (RFC 4724 §4.2), then, on a long-lived graceful restart session, the long-lived stale time as
 * LLGR_STALE (RFC 9494 §4.2). A start within it must defer selection: a client holding our routes
 * LLGR-stale sweeps them at our End-of-RIB, so an early one loses routes we have not relearned.
 */
export function routesKeptSec(peering: {
  readonly gracefulRestartTimeSec: number;
  readonly longLivedStaleTimeSec?: number;
}): number {
  return peering.gracefulRestartTimeSec + (peering.longLivedStaleTimeSec ?? 0);
}

export class RestartStateFile {
  private heartbeat: NodeJS.Timeout | undefined;
  private restartTimeSec = 0;
  private warned = false;

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The previous run ended without a Cease within the Restart Time it announced: peers still hold its routes. */
  previousRunRestarting(): boolean {
    const recorded = this.read();
    if (!recorded || recorded.restartTimeSec <= 0) return false;
    const ageMs = this.now() - recorded.aliveAt;
    return ageMs >= 0 && ageMs <= recorded.restartTimeSec * 1000 + HEARTBEAT_MS;
  }

  /** Records the longest Restart Time announced (0: no graceful restart) and keeps saying alive. */
  alive(restartTimeSec: number): void {
    this.restartTimeSec = restartTimeSec;
    this.write();
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => this.write(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Every session got a Cease: the next start is no graceful restart. */
  stoppedCleanly(): void {
    this.stopHeartbeat();
    try {
      rmSync(this.path, { force: true });
    } catch (error) {
      this.warn('cannot remove', error);
    }
  }

  /**
   * A planned restart: the sessions ended so that peers keep the routes (no Cease, or a plain
   * Administrative Reset with the N bit): the file says alive now and stays, so the next start within
   * the Restart Time is a graceful restart. False when no Restart Time was announced.
   */
  stoppedForRestart(): boolean {
    this.stopHeartbeat();
    if (this.restartTimeSec <= 0) return false;
    this.write();
    return true;
  }

  /** Stops the heartbeat and leaves the file (what a crash leaves). */
  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private read(): Recorded | undefined {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<Recorded>;
      const { aliveAt, restartTimeSec } = parsed;
      if (typeof aliveAt !== 'number' || typeof restartTimeSec !== 'number') return undefined;
      return { aliveAt, restartTimeSec };
    } catch {
      return undefined; // absent (first start, or a clean stop) or unreadable: no restart
    }
  }

  private write(): void {
    const recorded: Recorded = { aliveAt: this.now(), restartTimeSec: this.restartTimeSec };
    try {
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(this.path, `${JSON.stringify(recorded)}\n`);
    } catch (error) {
      this.warn('cannot write', error);
    }
  }

  private warn(what: string, error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(
      { event: 'restart-state-file', path: this.path, reason: String(error) },
      `${what} the restart state file: restarts may not be recognised as graceful`,
    );
  }
}

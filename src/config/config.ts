// The daemon's own settings (not the cluster's: those are resources in the datastore). One convict
// schema: each setting has a default, a format, a BRINDLE_* environment variable and a doc line, and
// `brindle --check-config` prints the effective values or every error with the setting it concerns.

import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import convict from 'convict';
import { parse as parseYaml } from 'yaml';
import type { DatastoreSettings } from '../datastore/open.ts';
import { isIpv4, isIpv6, parseIpv4 } from '../lib/address.ts';
import type { LogFormat } from '../lib/log.ts';
import { parsePrefix } from '../lib/prefix.ts';

convict.addParser({ extension: ['yml', 'yaml'], parse: (text: string) => parseYaml(text) as object });

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

convict.addFormat({
  name: 'ip-address',
  validate: (value: unknown) =>
    check(typeof value === 'string' && (isIpv4(value) || isIpv6(value)), 'must be an IPv4 or IPv6 address'),
});
convict.addFormat({
  name: 'router-id',
  validate: (value: unknown) =>
    check(
      value === '' ||
        value === 'hash' ||
        (typeof value === 'string' && isIpv4(value) && parseIpv4(value) !== 0),
      "must be a non-zero IPv4 address, 'hash' or empty",
    ),
});
convict.addFormat({
  name: 'host-port',
  validate: (value: unknown) => {
    const match =
      typeof value === 'string'
        ? /^(\[([0-9a-fA-F:.]+)\]|([0-9.]+)|([a-zA-Z0-9.-]+)):(\d{1,5})$/.exec(value)
        : null;
    check(match !== null, 'must be host:port or [ipv6]:port');
    const [, , v6, v4] = match!;
    check(v6 === undefined || isIpv6(v6), `${v6} is not an IPv6 address`);
    check(v4 === undefined || isIpv4(v4), `${v4} is not an IPv4 address`);
    const port = Number(match![5]);
    // Port 0 lets the kernel choose (tests and one-off runs read the bound port from the log).
    check(port <= 65535, 'the port must be from 0 to 65535');
  },
});
/** An address with its subnet length, of one family, or empty. */
function cidrFormat(name: string, family: 4 | 6): void {
  convict.addFormat({
    name,
    validate: (value: unknown) => {
      check(typeof value === 'string', 'must be a string');
      if (value === '') return;
      const slash = (value as string).indexOf('/');
      const address = (value as string).slice(0, slash);
      const ok =
        slash > 0 &&
        parsePrefix(value as string) !== undefined &&
        (family === 4 ? isIpv4(address) : isIpv6(address));
      check(
        ok,
        `must be an IPv${family} address with its prefix length (e.g. ${family === 4 ? '10.0.0.11/24' : 'fd00::11/64'}) or empty`,
      );
    },
  });
}
cidrFormat('ipv4-cidr-or-empty', 4);
cidrFormat('ipv6-cidr-or-empty', 6);
/**
 * A boolean and nothing else: `true`/`false` in the file, "true"/"false" in the environment. convict's
 * own Boolean format coerces any text to true (`flase`, `nope`), which turns a typo into the opposite
 * of what was meant.
 */
convict.addFormat({
  name: 'boolean',
  coerce: (value: unknown) => (value === 'true' ? true : value === 'false' ? false : value),
  validate: (value: unknown) => check(typeof value === 'boolean', 'must be true or false'),
});
/** A whole number within [min, max] (digits only in the environment: "1e3" or "12abc" is an error). */
function integerFormat(
  name: string,
  min: number,
  max: number,
  why: string,
  refused: readonly number[] = [],
): void {
  convict.addFormat({
    name,
    coerce: (value: unknown) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
    validate: (value: unknown) => {
      check(
        Number.isInteger(value) && (value as number) >= min && (value as number) <= max,
        `must be a whole number from ${min} to ${max}${why}`,
      );
      check(!refused.includes(value as number), `${String(value)} is reserved${why}`);
    },
  });
}
integerFormat('port-number', 1, 65535, '');
// RFC 4724 §4.1 leaves the Selection_Deferral_Timer to configuration; FRR allows 0–3600 s.
integerFormat('deferral-seconds', 0, 3600, '');
// RFC 4724 §3: the Restart Time is a 12-bit field.
integerFormat('restart-time-seconds', 0, 4095, ' (the 12-bit Restart Time field, RFC 4724 §3)');
// Table 0 is RT_TABLE_UNSPEC (the kernel picks main) and 255 the local table, which holds the
// host's own addresses: Brindle's reconcile must never own either.
integerFormat('fib-table', 1, 0xffff_ffff, ' (not 255, the local table)', [255]);
// 0–4 are the kernel's own protocols (unspec, redirect, kernel, boot, static): reconcile deletes
// every route of Brindle's protocol it does not want, so sharing one would delete the host's routes.
integerFormat('fib-protocol', 5, 255, " (0–4 are the kernel's own route protocols)");
/** Calico's node names are Kubernetes node names: RFC 1123 subdomains. */
convict.addFormat({
  name: 'node-name',
  validate: (value: unknown) =>
    check(
      typeof value === 'string' &&
        value.length <= 253 &&
        /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value),
      'must be a lowercase RFC 1123 name (letters, digits, "-" and ".", at most 253 characters), as a Kubernetes node name',
    ),
});
convict.addFormat({
  name: 'non-empty',
  validate: (value: unknown) => check(typeof value === 'string' && value !== '', 'must not be empty'),
});
convict.addFormat({
  name: 'key-prefix',
  validate: (value: unknown) =>
    check(
      typeof value === 'string' && value.startsWith('/') && value.endsWith('/'),
      'must start and end with "/"',
    ),
});
convict.addFormat({
  name: 'endpoint-list',
  coerce: (value: unknown) =>
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : value,
  validate: (value: unknown) =>
    check(
      Array.isArray(value) && value.every((v) => typeof v === 'string' && /^https?:\/\/[^/]+$/.test(v)),
      'must be a list of http(s)://host:port endpoints',
    ),
});

export const configSchema = {
  mode: {
    doc: "'node': a speaker on a cluster node that programs the kernel FIB; 'reflector': a route reflector (no FIB).",
    format: ['node', 'reflector'],
    default: 'node',
    env: 'BRINDLE_MODE',
  },
  nodeName: {
    doc: 'This node: the name of its Node resource (Calico: the Kubernetes node name).',
    format: 'node-name',
    // Calico lowercases the host name it takes as the node name.
    default: os.hostname().toLowerCase(),
    env: 'BRINDLE_NODE_NAME',
  },
  routerId: {
    doc: "BGP Identifier: an IPv4 address, 'hash' (derived from the node name, for IPv6-only nodes), or empty for the node's IPv4 address.",
    format: 'router-id',
    default: '',
    env: 'BRINDLE_ROUTER_ID',
  },
  node: {
    ipv4Address: {
      doc: "This node's BGP IPv4 address with its subnet (e.g. 10.0.0.11/24), written to its Node resource at start; empty keeps the resource's.",
      format: 'ipv4-cidr-or-empty',
      default: '',
      env: 'BRINDLE_NODE_IPV4',
    },
    ipv6Address: {
      doc: "This node's BGP IPv6 address with its subnet; empty keeps the resource's.",
      format: 'ipv6-cidr-or-empty',
      default: '',
      env: 'BRINDLE_NODE_IPV6',
    },
  },
  datastore: {
    type: {
      doc: "'embedded' (lmdb on this host, no server needed) or 'etcd' (etcd v3, for clusters).",
      format: ['embedded', 'etcd'],
      default: 'embedded',
      env: 'BRINDLE_DATASTORE',
    },
    path: {
      doc: 'Directory of the embedded datastore.',
      format: 'non-empty',
      default: '/var/lib/brindle/store',
      env: 'BRINDLE_DATASTORE_PATH',
    },
    etcdEndpoints: {
      doc: 'etcd endpoints, comma-separated in the environment.',
      format: 'endpoint-list',
      default: ['http://127.0.0.1:2379'],
      env: 'BRINDLE_ETCD_ENDPOINTS',
    },
    etcdPrefix: {
      doc: 'Key prefix of Brindle in etcd.',
      format: 'key-prefix',
      default: '/brindle/',
      env: 'BRINDLE_ETCD_PREFIX',
    },
  },
  bgp: {
    listenAddress: {
      doc: "Address BGP listens on ('::' for every address, both families). BGPConfiguration bindMode NodeIP overrides it.",
      format: 'ip-address',
      default: '::',
      env: 'BRINDLE_BGP_LISTEN_ADDRESS',
    },
    listenPort: {
      doc: 'BGP port; BGPConfiguration listenPort overrides it.',
      format: 'port-number',
      default: 179,
      env: 'BRINDLE_BGP_LISTEN_PORT',
    },
    gracefulRestart: {
      doc: "Announce the Graceful Restart capability (RFC 4724), as Calico's BIRD does: peers keep this node's routes while Brindle restarts, for the restart time of BGPConfiguration/BGPPeer (default 120 s). false: peers drop them at once.",
      format: 'boolean',
      default: true,
      env: 'BRINDLE_BGP_GRACEFUL_RESTART',
    },
    selectionDeferralTimeSec: {
      doc: "After Brindle restarted (RFC 4724 §4.1): send no route and no End-of-RIB, and change no kernel route, until every peer sent End-of-RIB or this many seconds passed (BIRD's 'graceful restart wait', 240 s). 0: never wait.",
      format: 'deferral-seconds',
      default: 240,
      env: 'BRINDLE_BGP_SELECTION_DEFERRAL_TIME',
    },
    llgrRestartTimeSec: {
      doc: "Restart Time (RFC 4724) announced on sessions whose BGPPeer has restartMode LongLivedGracefulRestart: peers keep this node's routes unchanged this long, then as LLGR_STALE for the BGPPeer's maxRestartTime (RFC 9494 §4.2). 120 s is BIRD's default, which Calico Enterprise keeps; 0: LLGR-stale at once.",
      format: 'restart-time-seconds',
      default: 120,
      env: 'BRINDLE_BGP_LLGR_RESTART_TIME',
    },
    llgrPartialDeployment: {
      doc: "RFC 9494 §4.6 (Optional Partial Deployment): send long-lived stale routes also to internal peers that did not negotiate Long-Lived Graceful Restart, with NO_EXPORT and LOCAL_PREF 0, so they stay in the AS and lose to any fresh route. false: such peers are not sent them (the RFC's default).",
      format: 'boolean',
      default: false,
      env: 'BRINDLE_BGP_LLGR_PARTIAL_DEPLOYMENT',
    },
    restartStateFile: {
      doc: 'File that records, while Brindle runs, that its peers would keep its routes if it stopped without a Cease: found on start within the restart time, this run is a graceful restart (Restart State bit, deferred selection). A reflector needs it to know it restarted; a node also knows from its kernel routes. Empty: not kept.',
      format: String,
      default: '',
      env: 'BRINDLE_BGP_RESTART_STATE_FILE',
    },
  },
  secrets: {
    dir: {
      doc: "Directory of the secrets BGPPeer.password.secretKeyRef and BGPConfiguration.nodeMeshPassword name: <dir>/<name>/<key> holds the TCP MD5 password (a Kubernetes secret volume's or systemd credentials' layout); not readable by others.",
      format: 'non-empty',
      default: '/etc/brindle/secrets',
      env: 'BRINDLE_SECRETS_DIR',
    },
  },
  api: {
    listen: {
      doc: 'Address of /metrics, the read-only JSON API and the health endpoints.',
      format: 'host-port',
      default: '127.0.0.1:9179',
      env: 'BRINDLE_API_LISTEN',
    },
    socket: {
      doc: 'Unix socket for commands that change state (reset a peer, reload, log level); mode 0660.',
      format: 'non-empty',
      default: '/run/brindle/brindle.sock',
      env: 'BRINDLE_API_SOCKET',
    },
  },
  log: {
    level: {
      doc: 'Log level (changeable at runtime through the API socket).',
      format: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'],
      default: 'info',
      env: 'BRINDLE_LOG_LEVEL',
    },
    format: {
      doc: "'json' (one JSON object a line, what journald and log shippers keep), 'text' (one readable line with the level name), or 'auto': text on a terminal, JSON otherwise (under systemd too).",
      format: ['auto', 'json', 'text'],
      default: 'auto',
      env: 'BRINDLE_LOG_FORMAT',
    },
  },
  fib: {
    enabled: {
      doc: 'Program learned routes and block blackholes into the kernel (node mode).',
      format: 'boolean',
      default: true,
      env: 'BRINDLE_FIB_ENABLED',
    },
    table: {
      doc: 'Kernel routing table for Brindle routes (254 = main).',
      format: 'fib-table',
      default: 254,
      env: 'BRINDLE_FIB_TABLE',
    },
    protocol: {
      // 205: unused by the usual routing daemons (FRR names 186-197, BIRD 12, Calico's Felix 80).
      doc: "Route protocol number of Brindle's kernel routes (shown as 'proto brindle' once named in rt_protos).",
      format: 'fib-protocol',
      default: 205,
      env: 'BRINDLE_FIB_PROTOCOL',
    },
    keepRoutesOnStop: {
      doc: 'Leave routes in the kernel when stopping (graceful restart: forwarding continues while Brindle restarts).',
      format: 'boolean',
      default: true,
      env: 'BRINDLE_FIB_KEEP_ROUTES_ON_STOP',
    },
  },
};

export interface BrindleConfig {
  readonly mode: 'node' | 'reflector';
  readonly nodeName: string;
  readonly routerId: string;
  readonly node: { readonly ipv4Address: string; readonly ipv6Address: string };
  readonly datastore: DatastoreSettings;
  readonly bgp: {
    readonly listenAddress: string;
    readonly listenPort: number;
    readonly gracefulRestart: boolean;
    readonly selectionDeferralTimeSec: number;
    readonly llgrRestartTimeSec: number;
    readonly restartStateFile: string;
    readonly llgrPartialDeployment: boolean;
  };
  readonly secrets: { readonly dir: string };
  readonly api: { readonly listen: string; readonly socket: string };
  readonly log: { readonly level: string; readonly format: LogFormat };
  readonly fib: {
    readonly enabled: boolean;
    readonly table: number;
    readonly protocol: number;
    readonly keepRoutesOnStop: boolean;
  };
}

/** The installed system's config file. */
export const SYSTEM_CONFIG = '/etc/brindle/brindle.yaml';

/** The package this program runs from (a checkout, or /usr/lib/brindle when installed). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where a program's config comes from when no --config names one, and why. */
export interface ConfigChoice {
  readonly file?: string;
  /** Relative paths in the file are taken from here (the checkout), not from the working directory. */
  readonly baseDir?: string;
  readonly source: 'argument' | 'environment' | 'system' | 'checkout' | 'defaults';
}

/**
 * The default config of brindle, brindlectl and brindle-ipam alike: $BRINDLE_CONFIG, else the
 * system's /etc/brindle/brindle.yaml, else — in a checkout where `npm start` has run (its
 * .brindle/store exists) — the checkout's config/brindle.yaml, so the CLI talks to the daemon and datastore
 * that the README's start command made; else the built-in defaults.
 */
export function defaultConfig(
  env: NodeJS.ProcessEnv = process.env,
  root = PACKAGE_ROOT,
  system = SYSTEM_CONFIG,
): ConfigChoice {
  if (env.BRINDLE_CONFIG) return { file: env.BRINDLE_CONFIG, source: 'environment' };
  if (existsSync(system)) return { file: system, source: 'system' };
  const checkout = join(root, 'config', 'brindle.yaml');
  // The embedded store config/brindle.yaml names: there once `npm start` has run in this checkout.
  if (existsSync(checkout) && existsSync(join(root, '.brindle', 'store')))
    return { file: checkout, baseDir: root, source: 'checkout' };
  return { source: 'defaults' };
}

export type ConfigResult =
  { ok: true; config: BrindleConfig; file?: string } | { ok: false; errors: string[]; file?: string };

/**
 * Loads the config file (YAML or JSON) over the defaults and the BRINDLE_* environment, and validates
 * strictly: an unknown setting is an error (a typo must not silently fall back to a default).
 */
export function loadConfig(
  file?: string,
  env: NodeJS.ProcessEnv = process.env,
  baseDir?: string,
): ConfigResult {
  const config = convict(configSchema, { env });
  try {
    if (file) {
      const text = readFileSync(file, 'utf8');
      config.load((file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) ?? {});
    }
    config.validate({ allowed: 'strict' });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, errors: message.split('\n').filter(Boolean), file };
  }
  const loaded = config.getProperties() as unknown as BrindleConfig;
  return { ok: true, config: baseDir === undefined ? loaded : withBase(loaded, baseDir), file };
}

/** The config's relative paths taken from `baseDir`. */
function withBase(config: BrindleConfig, baseDir: string): BrindleConfig {
  const at = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  return {
    ...config,
    datastore: { ...config.datastore, path: at(config.datastore.path) },
    api: { ...config.api, socket: at(config.api.socket) },
    secrets: { dir: at(config.secrets.dir) },
  };
}

/** The schema as documentation: setting, env var, default, doc (for the README and --help). */
export function describeSettings(): { setting: string; env: string; default: unknown; doc: string }[] {
  const rows: { setting: string; env: string; default: unknown; doc: string }[] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    for (const [key, value] of Object.entries(node)) {
      const v = value as Record<string, unknown>;
      if ('doc' in v)
        rows.push({
          setting: [...path, key].join('.'),
          env: String(v.env),
          default: v.default,
          doc: String(v.doc),
        });
      else walk(v, [...path, key]);
    }
  };
  walk(configSchema, []);
  return rows;
}

// The plugin's datastore path: when the node's daemon is not running (or died mid-call), `brindle-ipam`
// does the allocation itself against the datastore named by the Brindle config (ipam.config, else
// $BRINDLE_CONFIG, else /etc/brindle/brindle.yaml when it exists, else the built-in defaults, plus the
// BRINDLE_* overrides), with the same WorkloadIpam the daemon serves, so the result is the same. main.ts
// imports this module only on that path: it is what loads the config parser and the datastore stack.

import { existsSync } from 'node:fs';
import { loadConfig } from '../config/config.ts';
import type { BrindleConfig } from '../config/config.ts';
import { openStore, storeConfig } from '../datastore/open.ts';
import type { Store } from '../datastore/store.ts';
import { WorkloadIpam } from '../ipam/workload.ts';
import { CNI_ERROR, CniError } from './cni.ts';
import type { IpamBackend, IpamSection } from './cni.ts';
import { cniErrorOf, WorkloadBackend } from './workload-backend.ts';

const SYSTEM_CONFIG = '/etc/brindle/brindle.yaml';
const ETCD_REQUEST_TIMEOUT_MS = 5_000;
const CLOSE_BOUND_MS = 2_000;

/** The Brindle config the plugin reads: the daemon's, so both use one datastore and node name. */
export function brindleConfig(section: IpamSection, env: NodeJS.ProcessEnv): BrindleConfig {
  const file =
    section.config ?? (env.BRINDLE_CONFIG || (existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : undefined));
  const result = loadConfig(file, env);
  if (!result.ok) {
    throw new CniError(
      CNI_ERROR.invalidConfig,
      `invalid Brindle configuration${result.file ? ` in ${result.file}` : ''}`,
      result.errors.join('; '),
    );
  }
  return result.config;
}

async function closeBounded(store: Store): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BOUND_MS)));
  await Promise.race([store.close().catch(() => undefined), bound]);
  clearTimeout(timer);
}

/** Opens the datastore the Brindle config names; the node is ipam.nodeName, else the config's. */
export async function openDatastoreBackend(
  section: IpamSection,
  env: NodeJS.ProcessEnv,
): Promise<IpamBackend> {
  const config = brindleConfig(section, env);
  let store: Store;
  try {
    store = await openStore(storeConfig(config.datastore, ETCD_REQUEST_TIMEOUT_MS));
  } catch (error) {
    throw cniErrorOf(error);
  }
  return new WorkloadBackend(new WorkloadIpam({ store }), section.nodeName ?? config.nodeName, () =>
    closeBounded(store),
  );
}

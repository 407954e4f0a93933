// Opens the configured datastore backend; the daemon and brindlectl call this and see only a Store.
// Each backend is imported when chosen: etcd3 (gRPC, protobufjs) alone costs half a second to load,
// which every brindlectl run against the embedded store would pay.

import type { EtcdStoreOptions } from './etcd-store.ts';
import type { LmdbStoreOptions } from './lmdb-store.ts';
import type { Store } from './store.ts';

export type StoreConfig =
  ({ readonly backend: 'lmdb' } & LmdbStoreOptions) | ({ readonly backend: 'etcd' } & EtcdStoreOptions);

/** The datastore section of the daemon config (`datastore:` in brindle.yaml). */
export interface DatastoreSettings {
  readonly type: 'embedded' | 'etcd';
  readonly path: string;
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
}

/**
 * What openStore() takes for the configured backend. One-shot processes (brindlectl, the CNI plugin)
 * pass a short etcd deadline so an unreachable etcd fails them fast; the daemon keeps the default.
 */
export function storeConfig(settings: DatastoreSettings, etcdRequestTimeoutMs?: number): StoreConfig {
  if (settings.type === 'embedded') return { backend: 'lmdb', path: settings.path };
  return {
    backend: 'etcd',
    endpoints: [...settings.etcdEndpoints],
    prefix: settings.etcdPrefix,
    ...(etcdRequestTimeoutMs === undefined ? {} : { requestTimeoutMs: etcdRequestTimeoutMs }),
  };
}

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.backend) {
    case 'lmdb':
      return (await import('./lmdb-store.ts')).openLmdbStore(config);
    case 'etcd':
      return (await import('./etcd-store.ts')).openEtcdStore(config);
  }
}

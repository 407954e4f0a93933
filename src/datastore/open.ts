// Opens the configured datastore backend; the daemon and brindlectl call this and see only a Store.
// Each backend is imported when chosen: etcd3 (gRPC, protobufjs) alone costs half a second to load,
// which every brindlectl run against the embedded store would pay.

import type { EtcdStoreOptions } from './etcd-store.ts';
import type { LmdbStoreOptions } from './lmdb-store.ts';
import type { Store } from './store.ts';

export type StoreConfig =
  ({ readonly backend: 'lmdb' } & LmdbStoreOptions) | ({ readonly backend: 'etcd' } & EtcdStoreOptions);

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.backend) {
    case 'lmdb':
      return (await import('./lmdb-store.ts')).openLmdbStore(config);
    case 'etcd':
      return (await import('./etcd-store.ts')).openEtcdStore(config);
  }
}

// Opens the configured datastore backend; the daemon and brindlectl call this and see only a Store.

import { openEtcdStore } from './etcd-store.ts';
import type { EtcdStoreOptions } from './etcd-store.ts';
import { openLmdbStore } from './lmdb-store.ts';
import type { LmdbStoreOptions } from './lmdb-store.ts';
import type { Store } from './store.ts';

export type StoreConfig =
  ({ readonly backend: 'lmdb' } & LmdbStoreOptions) | ({ readonly backend: 'etcd' } & EtcdStoreOptions);

export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.backend) {
    case 'lmdb':
      return openLmdbStore(config);
    case 'etcd':
      return openEtcdStore(config);
  }
}

// The IPAM client on the etcd backend: one real etcd for the file, one key prefix per test.

import test from 'ava';

import { startEtcd } from '../helpers/etcd.ts';
import type { EtcdHandle } from '../helpers/etcd.ts';
import { allocatorScenarios } from './scenarios.ts';
import { etcdBackend } from './support.ts';

let etcd: EtcdHandle | undefined;

test.before(async () => {
  etcd = await startEtcd();
});

test.after.always(async () => {
  await etcd?.stop();
});

allocatorScenarios(
  test,
  etcdBackend(() => {
    if (etcd === undefined) throw new Error('etcd did not start');
    return etcd.endpoint;
  }),
);

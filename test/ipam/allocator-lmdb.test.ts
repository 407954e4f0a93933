// The IPAM client on the LMDB backend (a store in a temp dir per test).

import test from 'ava';

import { allocatorScenarios } from './scenarios.ts';
import { lmdbBackend } from './support.ts';

allocatorScenarios(test, lmdbBackend);

/** Capability reports of kernels the tests plan for, written by hand (plan() is pure). */
import type { Capabilities } from '../../src/mount/probe.js';

/** 6.18 as on the lab machine: everything. */
export const linux618: Capabilities = {
  kernel: '6.18.44',
  newMountApi: true,
  overlay: true,
  canMount: true,
  fsContextParser: true,
  lowerdirPlus: true,
  datadirPlus: true,
  layersByFd: true,
  createExcl: true,
  userxattr: true,
  volatile: true,
  fsync: true,
  fsyncModes: ['volatile', 'auto', 'strict'],
  uuidModes: ['off', 'null', 'auto', 'on'],
  verity: true,
  overrideCreds: true,
  statmount: true,
  statmountOptionArray: true,
  mountIdUnique: true,
  moduleDefaults: { redirectDir: false, redirectAlwaysFollow: true, index: false, nfsExport: false, metacopy: false, xinoAuto: false },
  root: true,
  userNamespace: false,
  pageSize: 4096,
};


import type { OsFamily, Release } from '../../openstack/release.js';

/** Telemetry with MongoDB per release and OS (seed 004 §10, the Juno and Liberty guides). */

export interface MongoPlatform {
  readonly packages: readonly string[];
  readonly config: string;
  readonly service: string;
  /** Journal files made with the old size; the guide removes them after switching on smallfiles. */
  readonly journalDir: string;
}

/** The controller's daemons; the alarm ones exist in Juno only (Liberty moved alarming to aodh). */
export type Daemon = 'central' | 'notification' | 'api' | 'collector' | 'alarmEvaluator' | 'alarmNotifier';

export interface CeilometerPlatform {
  readonly mongo: MongoPlatform;
  readonly controllerPackages: readonly string[];
  /** Service name of each daemon (null: none in this release), in the guide's restart order. */
  readonly controllerServices: Readonly<Record<Daemon, string | null>>;
  readonly computePackages: readonly string[];
  readonly computeService: string;
}

export interface CeilometerRelease {
  /** `[publisher]` option (and the guide's placeholder, used as the secret's name): Juno `metering_secret`, Kilo on `telemetry_secret`. */
  readonly publisherSecret: 'metering_secret' | 'telemetry_secret';
  /** Seed 004 turns on verbose logging. */
  readonly verbose: boolean;
}

const UBUNTU_MONGO: MongoPlatform = {
  packages: ['mongodb-server', 'mongodb-clients', 'python-pymongo'],
  config: '/etc/mongodb.conf',
  service: 'mongodb',
  journalDir: '/var/lib/mongodb/journal',
};

const PLATFORMS: Readonly<Record<string, CeilometerPlatform>> = {
  'juno/ubuntu': {
    mongo: UBUNTU_MONGO,
    controllerPackages: [
      'ceilometer-api',
      'ceilometer-collector',
      'ceilometer-agent-central',
      'ceilometer-agent-notification',
      'ceilometer-alarm-evaluator',
      'ceilometer-alarm-notifier',
      'python-ceilometerclient',
    ],
    controllerServices: {
      central: 'ceilometer-agent-central',
      notification: 'ceilometer-agent-notification',
      api: 'ceilometer-api',
      collector: 'ceilometer-collector',
      alarmEvaluator: 'ceilometer-alarm-evaluator',
      alarmNotifier: 'ceilometer-alarm-notifier',
    },
    computePackages: ['ceilometer-agent-compute'],
    computeService: 'ceilometer-agent-compute',
  },
  // Liberty moved alarming to aodh, a separate service the guide installs on its own.
  'liberty/ubuntu': {
    mongo: UBUNTU_MONGO,
    controllerPackages: ['ceilometer-api', 'ceilometer-collector', 'ceilometer-agent-central', 'ceilometer-agent-notification', 'python-ceilometerclient'],
    controllerServices: {
      central: 'ceilometer-agent-central',
      notification: 'ceilometer-agent-notification',
      api: 'ceilometer-api',
      collector: 'ceilometer-collector',
      alarmEvaluator: null,
      alarmNotifier: null,
    },
    computePackages: ['ceilometer-agent-compute'],
    computeService: 'ceilometer-agent-compute',
  },
  'liberty/centos': {
    // EPEL's MongoDB 2.6: the daemon and its file are `mongod`, as the RDO guide notes.
    mongo: { packages: ['mongodb-server', 'mongodb'], config: '/etc/mongod.conf', service: 'mongod', journalDir: '/var/lib/mongodb/journal' },
    controllerPackages: [
      'openstack-ceilometer-api',
      'openstack-ceilometer-collector',
      'openstack-ceilometer-notification',
      'openstack-ceilometer-central',
      'python-ceilometerclient',
    ],
    controllerServices: {
      api: 'openstack-ceilometer-api',
      notification: 'openstack-ceilometer-notification',
      central: 'openstack-ceilometer-central',
      collector: 'openstack-ceilometer-collector',
      alarmEvaluator: null,
      alarmNotifier: null,
    },
    computePackages: ['openstack-ceilometer-compute', 'python-ceilometerclient', 'python-pecan'],
    computeService: 'openstack-ceilometer-compute',
  },
};

/**
 * Null for Zed: its Telemetry has no API and no MongoDB — samples go to
 * gnocchi, a service with its own database, indexer and storage back end
 * that no seed installs. Debian 12 ships both, but deploying gnocchi is a
 * role of its own; until then the ceilometer role does nothing on Zed.
 */
export function ceilometerPlatform(release: Release, family: OsFamily): CeilometerPlatform | null {
  if (release === 'zed') return null;
  const row = PLATFORMS[`${release}/${family}`];
  if (!row) throw new Error(`ceilometer: ${release} on ${family} is not supported (supported: ${Object.keys(PLATFORMS).join(', ')}; zed: none)`);
  return row;
}

export const CEILOMETER_RELEASE: Readonly<Record<Exclude<Release, 'zed'>, CeilometerRelease>> = {
  juno: { publisherSecret: 'metering_secret', verbose: true },
  liberty: { publisherSecret: 'telemetry_secret', verbose: false },
};

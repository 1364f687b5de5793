/**
 * tempest.conf for the deployed cloud, as option tables (written with the
 * ini module's renderer). Pure: the inventory's names and the ids the
 * playbook read from the cloud in, sections out. Each option that departs
 * from Tempest 33's default says why.
 */
import type { Secret } from '../../lib/core/secret.js';
import type { IniSections } from '../../lib/modules/ini.js';

export interface CloudImage {
  readonly id: string;
  readonly public: boolean;
}

/** What the playbook found in the cloud (by name) before writing the file. */
export interface CloudIds {
  readonly image: CloudImage | undefined;
  readonly alt: CloudImage | undefined;
  readonly kernel: CloudImage | undefined;
  readonly ramdisk: CloudImage | undefined;
  /** Which of the conformance flavors exist. */
  readonly flavors: readonly string[];
  readonly publicNetwork: string | undefined;
}

export interface TempestConfInput {
  readonly workspace: string;
  /** The controller's name as the catalog's endpoints use it. */
  readonly controller: string;
  readonly region: string;
  readonly adminPassword: Secret;
  readonly ids: CloudIds;
  readonly flavorIds: readonly [string, string];
  readonly extNet: string;
  /** Nova's newest API microversion in this release (Zed: 2.93). */
  readonly computeMaxMicroversion: string;
  /** False when no volume can be created here (no device-mapper): Tempest then skips every volume test, saying why. */
  readonly cinder: boolean;
}

export function tempestConf(c: TempestConfInput): IniSections {
  const need = (what: string, v: string | undefined): string => {
    if (v === undefined) throw new Error(`tempest.conf needs ${what}, which the cloud does not have yet`);
    return v;
  };
  return {
    DEFAULT: { log_dir: `${c.workspace}/logs`, log_file: 'tempest.log' },
    oslo_concurrency: { lock_path: `${c.workspace}/lock` },
    // Tempest's 60 s: on the lab's 2 shared CPUs the whole control plane and the guests compete, and nova-api
    // answered a request in more than 60 s under Tempest's own load (a read timeout failed the test, not the API).
    'service-clients': { http_timeout: 180 },
    auth: {
      // Tempest makes a project and users (and their network) per test class, as admin.
      use_dynamic_credentials: true,
      create_isolated_networks: true,
      admin_username: 'admin',
      admin_password: c.adminPassword,
      admin_project_name: 'admin',
      admin_domain_name: 'Default',
      admin_user_domain_name: 'Default',
      admin_project_domain_name: 'Default',
      default_credentials_domain_name: 'Default',
      // keystone-manage bootstrap (Zed) makes reader, member and admin; dynamic users get member.
      tempest_roles: 'member',
    },
    identity: {
      uri_v3: `http://${c.controller}:5000/v3`,
      auth_version: 'v3',
      region: c.region,
      v3_endpoint_type: 'public',
    },
    'identity-feature-enabled': { api_v2: false, api_v3: true },
    compute: {
      image_ref: need('the image stackplay-tempest', c.ids.image?.id),
      image_ref_alt: need('the image stackplay-tempest-alt', c.ids.alt?.id),
      // The alt flavor is the larger one: the resize tests resize onto it.
      flavor_ref: c.flavorIds[0],
      flavor_ref_alt: c.flavorIds[1],
      region: c.region,
      // Without it, tests that need a microversion above 2.1 are skipped.
      max_microversion: c.computeMaxMicroversion,
      // Instances run under QEMU emulation on the lab's shared CPUs.
      build_timeout: 600,
      min_compute_nodes: 1,
    },
    'compute-feature-enabled': {
      // One compute host: nova resizes on the same host (nova_allow_resize_to_same_host).
      resize: true,
      snapshot: true,
      console_output: true,
      // Gates the server metadata tests (Tempest files them under the old XenAPI extension).
      xenapi_apis: true,
      enable_instance_password: true,
      change_password: false,
      live_migration: false,
      cold_migration: false,
      vnc_console: false,
      attach_encrypted_volume: false,
    },
    image: {
      region: c.region,
      container_formats: 'bare,ami,ari,aki,ovf,ova',
      disk_formats: 'ami,ari,aki,vhd,vmdk,raw,qcow2,vdi,iso,vhdx',
    },
    'image-feature-enabled': { api_v2: true, api_v1: false, import_image: false },
    network: {
      region: c.region,
      public_network_id: need(`the external network ${c.extNet}`, c.ids.publicNetwork),
      floating_network_name: c.extNet,
      // Tenant networks are not routed to the Tempest host: it reaches servers on floating IPs.
      project_networks_reachable: false,
      project_network_cidr: '10.100.0.0/16',
      project_network_mask_bits: 28,
      shared_physical_network: false,
    },
    'network-feature-enabled': { api_extensions: 'all', floating_ips: true },
    validation: {
      run_validation: true,
      connect_method: 'floating',
      auth_method: 'keypair',
      ip_version_for_ssh: 4,
      // The lab's guest: busybox and dropbear; root takes the key pair from the metadata service.
      image_ssh_user: 'root',
      image_alt_ssh_user: 'root',
      // Nova generates the validation key pair, and it is RSA: Tempest's default (ecdsa) would read it as the wrong type.
      ssh_key_type: 'rsa',
      connect_timeout: 60,
      ssh_timeout: 300,
    },
    volume: { region: c.region, catalog_type: 'volumev3', volume_size: 1, build_timeout: 120 },
    'volume-feature-enabled': { snapshot: true, clone: true, backup: false, api_extensions: 'all' },
    // swift is not deployed: left at Tempest's default (true) the catalog test fails.
    service_available: { nova: true, neutron: true, glance: true, cinder: c.cinder, swift: false, horizon: false },
  };
}

import type { CommandEntry } from '../program.js';

/**
 * Every command of the CLI, in help order. Each module, and the libraries it uses (array drivers,
 * ssh2, PowerShell, pino, zod), is imported only when its command runs: `hvsnap --help` and
 * `hvsnap --version` load none of them. The descriptions here are what `hvsnap --help` lists.
 */
export const commandModules: CommandEntry[] = [
  {
    name: 'demo',
    description: 'build a lab, run a full and an incremental backup with writes during it, restore and verify',
    load: async () => (await import('./demo.js')).demoCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'backup',
    description: 'back up VMs: recovery checkpoints, one array snapshot per volume set, copy through the proxy',
    load: async () => (await import('./backup.js')).backupCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'batch',
    description: "the nightly batch on a proxy host: the config's batch selection, with its concurrency limits; resumable",
    load: async () => (await import('./batch.js')).batchCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'worker',
    description: 'on each proxy: pull volume sets from the shared queue (queue.kind bullmq) and back them up through this proxy',
    load: async () => (await import('./worker.js')).workerCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'jobs',
    description: 'list the saved reports of backups and batches (jobs show ID: one of them), from the repository',
    load: async () => (await import('./jobs.js')).jobsCommand,
  },
  { name: 'list', description: 'list restore points', load: async () => (await import('./repository.js')).listCommand },
  {
    name: 'restore',
    description: "rebuild a restore point in Hyper-V's export layout and verify it; --import: import the VM; --instant: run it from an array clone",
    load: async () => (await import('./repository.js')).restoreCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'export',
    description: "write a restore point in Hyper-V's export layout (Virtual Machines/, Virtual Hard Disks/), for Import-VM on any host",
    load: async () => (await import('./export.js')).exportCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'mount',
    description: 'serve a restore point read-only through FUSE: per disk a VHDX and a raw image (--files: NTFS volumes too)',
    load: async () => (await import('./mount.js')).mountCommand,
    undoesOnStop: true,
  },
  {
    name: 'umount',
    description: 'unmount a restore point mounted by "hvsnap mount" (its NTFS volumes first)',
    load: async () => (await import('./mount.js')).umountCommand,
  },
  {
    name: 'instant',
    description: 'VMs running from array clones after "restore --instant": list, commit (move to production storage) or discard',
    load: async () => (await import('./instant.js')).instantCommand,
    undoesOnStop: ['commit', 'discard'],
  },
  {
    name: 'verify',
    description: 'check that every chunk a restore point needs is present (--deep: and re-hash it)',
    load: async () => (await import('./repository.js')).verifyCommand,
    movesDiskData: true,
  },
  {
    name: 'prune',
    description: 'apply a retention policy: delete restore points (and the array snapshots only they kept), then unreferenced chunks',
    load: async () => (await import('./repository.js')).retentionCommand,
    movesDiskData: true,
    undoesOnStop: true,
  },
  {
    name: 'init',
    description: 'create a repository (--encrypt: AES-256-GCM, the passphrase from HVSNAP_PASSPHRASE or HVSNAP_PASSPHRASE_FILE)',
    load: async () => (await import('./repository-admin.js')).initCommand,
  },
  {
    name: 'migrate',
    description: 'convert a version 1 repository (a file per chunk) to the current format (packs, zstd, optionally encrypted)',
    load: async () => (await import('./repository-admin.js')).migrateCommand,
    movesDiskData: true,
  },
  {
    name: 'passphrase',
    description: "add or change an encrypted repository's passphrase (the new one from HVSNAP_NEW_PASSPHRASE or HVSNAP_NEW_PASSPHRASE_FILE)",
    load: async () => (await import('./repository-admin.js')).passphraseCommand,
  },
  {
    name: 'cleanup',
    description: 'after a crash: undo what unfinished jobs left (checkpoints, presentations, snapshots), list orphan snapshots',
    load: async () => (await import('./cleanup.js')).cleanupCommand,
    undoesOnStop: true,
  },
  {
    name: 'doctor',
    description: 'check everything a backup with this configuration needs: hosts, array, proxy, repository',
    load: async () => (await import('./doctor.js')).doctorCommand,
  },
  { name: 'lab', description: 'the lab: a simulated Hyper-V host and array on local files', load: async () => (await import('./lab.js')).labCommand },
  {
    name: 'provider-test',
    description: 'run the provider conformance suite against an array (creates and deletes snapshots and copies of the listed volumes)',
    load: async () => (await import('./provider-test.js')).providerTestCommand,
    undoesOnStop: true,
  },
  { name: 'vhdx', description: 'inspect, read and check VHDX files (never modifies them)', load: async () => (await import('./vhdx.js')).vhdxCommand },
];

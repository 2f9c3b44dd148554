import type { CommandModule } from '../program.js';
import { backupCommand } from './backup.js';
import { batchCommand } from './batch.js';
import { cleanupCommand } from './cleanup.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { exportCommand } from './export.js';
import { instantCommand } from './instant.js';
import { labCommand } from './lab.js';
import { mountCommand, umountCommand } from './mount.js';
import { providerTestCommand } from './provider-test.js';
import { vhdxCommand } from './vhdx.js';
import { listCommand, restoreCommand, retentionCommand, verifyCommand } from './repository.js';

/** Every command of the CLI, in help order. */
export const commandModules: CommandModule[] = [demoCommand, backupCommand, batchCommand, listCommand, restoreCommand, exportCommand, mountCommand, umountCommand, instantCommand, verifyCommand, retentionCommand, cleanupCommand, doctorCommand, labCommand, providerTestCommand, vhdxCommand];

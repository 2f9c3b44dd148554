import type { CommandModule } from '../program.js';
import { backupCommand } from './backup.js';
import { batchCommand } from './batch.js';
import { cleanupCommand } from './cleanup.js';
import { demoCommand } from './demo.js';
import { doctorCommand } from './doctor.js';
import { jobsCommand } from './jobs.js';
import { labCommand } from './lab.js';
import { providerTestCommand } from './provider-test.js';
import { vhdxCommand } from './vhdx.js';
import { workerCommand } from './worker.js';
import { listCommand, restoreCommand, retentionCommand, verifyCommand } from './repository.js';

/** Every command of the CLI, in help order. */
export const commandModules: CommandModule[] = [demoCommand, backupCommand, batchCommand, workerCommand, jobsCommand, listCommand, restoreCommand, verifyCommand, retentionCommand, cleanupCommand, doctorCommand, labCommand, providerTestCommand, vhdxCommand];

import type { Command } from 'commander';
import { openRecorder, type TranscriptRecorder } from '../transport/recording-shell.js';

/** `--record DIR` and `--anonymize`: transcripts of every host script call (src/transport/recording-shell.ts). */
export function withRecordOptions(cmd: Command): Command {
  return cmd
    .option('--record <dir>', 'write every script call to the Hyper-V hosts to a transcript in <dir> (secrets redacted)')
    .option('--anonymize', 'with --record: replace VM, host and user names and paths consistently', false);
}

/** The recorder the flags ask for, or undefined. */
export function recorderFor(command: string, opts: { record?: string; anonymize?: boolean }): TranscriptRecorder | undefined {
  return opts.record ? openRecorder({ dir: opts.record, command, anonymize: opts.anonymize }) : undefined;
}

/** The one command that captures a shareable transcript of a host (doctor reads only). */
export function captureCommand(configFile: string): string {
  return `hvsnap doctor -c ${/\s/.test(configFile) ? JSON.stringify(configFile) : configFile} --record hvsnap-transcripts --anonymize`;
}

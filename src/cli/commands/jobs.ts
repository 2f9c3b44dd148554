import { Command } from 'commander';
import type { JobRecord } from '../../backup/job-history.js';
import { jobsWithConfig, jobWithConfig } from '../../job/scale-out-jobs.js';
import { formatMs, table } from '../format.js';
import type { CommandModule } from '../program.js';
import { renderBackupReport } from '../render.js';

/** `hvsnap jobs`: the runs kept in the repository; `hvsnap jobs show ID`: one run's report. */
export const jobsCommand: CommandModule = (kit) => {
  const jobs = new Command('jobs')
    .description('the backup and batch runs kept in the repository, newest first (see "jobs show ID" for one report)')
    .requiredOption('-c, --config <file>', 'job configuration (YAML) naming the repository')
    .action(
      kit.action<{ config: string }>(async ({ opts }) => {
        const records = await jobsWithConfig({ config: opts.config });
        const summaries = records.map(summary);
        const text =
          records.length === 0
            ? 'no jobs recorded'
            : table(
                ['job', 'kind', 'status', 'started', 'duration', 'VMs ok/total', 'resumes'],
                summaries.map((s) => [
                  s.id,
                  s.kind,
                  s.status,
                  s.startedAt,
                  s.durationMs === undefined ? '-' : formatMs(s.durationMs),
                  `${s.ok}/${s.vms}`,
                  s.resumeOf ?? '-',
                ]),
              );
        return { data: summaries, text };
      }),
    );
  jobs
    .command('show')
    .description('one run: its status, where it ran, and its full report')
    .argument('<id>', 'job id (from "hvsnap jobs")')
    .action(
      kit.action<{ config: string }>(async ({ opts, args }) => {
        const record = await jobWithConfig({ config: opts.config, id: args[0] });
        const head = `${record.kind} ${record.id}: ${record.status}; started ${record.startedAt} by pid ${record.pid} on ${record.host}${record.finishedAt ? `, finished ${record.finishedAt}` : ''}${record.resumeOf ? `; resumes ${record.resumeOf}` : ''}`;
        const body = record.report
          ? renderBackupReport(record.report)
          : record.error
            ? `error [${record.error.code}]: ${record.error.message}`
            : '(no report yet)';
        return { data: record, text: `${head}\n${body}` };
      }),
    );
  return jobs;
};

function summary(r: JobRecord) {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    resumeOf: r.resumeOf,
    host: r.host,
    pid: r.pid,
    durationMs: r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : undefined,
    vms: r.report?.totals.vms ?? r.vms.length,
    ok: r.report?.totals.ok ?? 0,
  };
}

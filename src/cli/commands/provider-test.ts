import { Command } from 'commander';
import { runProviderTest } from '../../../providers/conformance/provider-test.js';
import type { ConformanceReport } from '../../../providers/conformance/run-conformance.js';
import { ExitCode } from '../io.js';
import type { CommandModule } from '../program.js';

/** `hvsnap provider-test`: the provider conformance suite against a live array. */
export const providerTestCommand: CommandModule = (kit) =>
  new Command('provider-test')
    .description('run the provider conformance suite against an array (creates and deletes snapshots and copies of the listed volumes)')
    .requiredOption('-c, --config <file>', 'YAML/JSON with provider {name, config} and test {volumes, host}')
    .option('-p, --provider <name>', 'built-in provider or npm package name (overrides provider.name)')
    .option('--only <text>', 'run only the cases whose title contains this text')
    .option('--idempotent-count <n>', 'repeats of each idempotent call', (v) => Number.parseInt(v, 10))
    .action(
      kit.action<{ config: string; provider?: string; only?: string; idempotentCount?: number }>(async ({ opts, logger, signal }) => {
        const report = await runProviderTest({
          file: opts.config,
          provider: opts.provider,
          logger,
          only: opts.only,
          idempotentCount: opts.idempotentCount,
          signal,
        });
        // stopped: the case in hand finished and cleaned up; the rest never ran, so this is no pass
        const stopped = report.stopped ? '\nstopped before the remaining cases: run it again to test them' : '';
        return {
          data: report,
          text: renderReport(report) + stopped,
          exitCode: report.failed ? ExitCode.failed : report.stopped ? ExitCode.interrupted : ExitCode.ok,
        };
      }),
    );

function renderReport(r: ConformanceReport): string {
  const mark = { passed: 'ok  ', failed: 'FAIL', skipped: 'skip' } as const;
  const lines = r.results.map((c) => `${mark[c.status]} ${c.group}: ${c.title}${c.reason ? `\n       ${c.reason}` : ''}`);
  lines.push('', `${r.name}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  return lines.join('\n');
}

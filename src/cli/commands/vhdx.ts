import { Command } from 'commander';
import { HvsnapError } from '../../core/errors.js';
import { ExitCode } from '../io.js';
import type { CommandKit, CommandModule } from '../program.js';
import { checkVhdx, formatVhdxInfo, openVhdx, prefixResolver, vhdxInfo, type ParentResolver } from '../../vhdx/index.js';

/** Bytes per read while streaming `vhdx read` to stdout. */
const READ_STEP = 4 * 1024 * 1024;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--parent-map FROM=TO` values to a resolver; the message names the bad value. */
export function parseParentMap(values: string[] = []): ParentResolver | undefined {
  if (!values.length) return undefined;
  const map = values.map((v) => {
    const i = v.indexOf('=');
    if (i <= 0 || i === v.length - 1)
      throw new HvsnapError('input_invalid', `--parent-map ${JSON.stringify(v)}: expected FROM=TO (host path prefix = local folder)`, {
        context: { field: 'parent-map' },
      });
    return { from: v.slice(0, i), to: v.slice(i + 1) };
  });
  return prefixResolver(map);
}

function parseSize(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([KMG]i?B?)?$/i.exec(v.trim());
  const unit = m?.[2]?.[0]?.toUpperCase();
  const n = m ? Number(m[1]) * (unit === 'K' ? 1024 : unit === 'M' ? 1048576 : unit === 'G' ? 1073741824 : 1) : NaN;
  if (!Number.isSafeInteger(n))
    throw new HvsnapError('input_invalid', `--${name} ${JSON.stringify(v)}: expected a byte count (e.g. 4096, 64K, 1M)`, { context: { field: name } });
  return n;
}

async function writeOut(stdout: CommandKit['io']['stdout'], chunk: Uint8Array): Promise<void> {
  const ok = stdout.write(chunk);
  const s = stdout as unknown as { once?: (ev: string, fn: () => void) => void };
  if (ok === false && typeof s.once === 'function') await new Promise<void>((resolve) => s.once!('drain', resolve));
}

/** `hvsnap vhdx info|read|check`: inspect and read VHDX files (log replayed in memory, chains resolved). */
export const vhdxCommand: CommandModule = (kit) => {
  const cmd = new Command('vhdx').description('inspect, read and check VHDX files (never modifies them)');

  cmd
    .command('info')
    .description('headers, sizes, block size, sectors, BAT state counts, log state, parent')
    .argument('<file>', 'the VHDX file')
    .option('--parent-map <from=to>', 'map a host path prefix of a parent to a local folder (repeatable)', collect, [])
    .action(
      kit.action<{ parentMap: string[] }>(async ({ args, opts }) => {
        const resolveParent = parseParentMap(opts.parentMap);
        const info = await vhdxInfo(args[0], resolveParent ? { resolveParent } : {});
        return { data: info, text: formatVhdxInfo(info) };
      }),
    );

  cmd
    .command('read')
    .description('write the virtual bytes to stdout (log replayed, chain resolved)')
    .argument('<file>', 'the VHDX file')
    .option('--offset <bytes>', 'first virtual byte', '0')
    .option('--length <bytes>', 'number of bytes (default: to the end)')
    .option('--parent-map <from=to>', 'map a host path prefix of a parent to a local folder (repeatable)', collect, [])
    .action(async (file: string, o: { offset?: string; length?: string; parentMap: string[] }) => {
      const resolveParent = parseParentMap(o.parentMap);
      // a single-purpose process: blocking reads are the fast path (see OpenVhdxOptions.syncReads)
      const img = await openVhdx(file, { syncReads: true, ...(resolveParent ? { resolveParent } : {}) });
      try {
        const offset = parseSize('offset', o.offset) ?? 0;
        const length = parseSize('length', o.length) ?? img.virtualSize - offset;
        if (offset + length > img.virtualSize || offset > img.virtualSize) {
          throw new HvsnapError('input_invalid', `--offset ${offset} --length ${length} runs past the virtual size ${img.virtualSize}`, {
            context: { field: 'length', file },
          });
        }
        for (let at = 0; at < length; at += READ_STEP) {
          if (kit.signal.aborted) throw new HvsnapError('aborted', 'the operation was aborted');
          // a fresh buffer each time: the stream may still hold the previous one
          await writeOut(kit.io.stdout, await img.read(offset + at, Math.min(READ_STEP, length - at)));
        }
      } finally {
        await img.close();
      }
    });

  cmd
    .command('check')
    .description('check every structure; exit 0 when clean, 1 with errors, 5 with warnings only')
    .argument('<file>', 'the VHDX file')
    .option('--parent-map <from=to>', 'map a host path prefix of a parent to a local folder (repeatable)', collect, [])
    .action(
      kit.action<{ parentMap: string[] }>(async ({ args, opts }) => {
        const resolveParent = parseParentMap(opts.parentMap);
        const r = await checkVhdx(args[0], resolveParent ? { resolveParent } : {});
        const lines = r.findings.map((f) => `${f.severity}: ${f.structure} at offset ${f.offset}: ${f.message}`);
        const text = r.findings.length ? `${r.path}: ${r.findings.length} finding(s)\n${lines.join('\n')}` : `${r.path}: no problems found`;
        return { data: r, text, exitCode: !r.ok ? ExitCode.failed : r.findings.length ? ExitCode.partial : ExitCode.ok };
      }),
    );
  return cmd;
};

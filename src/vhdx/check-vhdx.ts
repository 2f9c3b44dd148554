import { isHvsnapError } from '../core/errors.js';
import { REGION_TABLE_OFFSETS, REGION_TABLE_SIZE } from './constants.js';
import { openVhdx } from './open-vhdx.js';
import type { ParentResolver } from './parent.js';
import { parseVhdx } from './parse-vhdx.js';
import { newReadStats, VhdxFile } from './vhdx-file.js';

/** One problem found by {@link checkVhdx}. `offset` is a file offset. */
export interface VhdxFinding {
  severity: 'error' | 'warning';
  structure: string;
  offset: number;
  message: string;
}

/** The outcome of {@link checkVhdx}. */
export interface VhdxCheckResult {
  path: string;
  /** true when there is no error (warnings allowed) */
  ok: boolean;
  findings: VhdxFinding[];
}

/**
 * Checks a VHDX without changing it: headers, region tables (both copies), metadata, every BAT entry
 * (states, alignment, bounds, overlaps), the log, and the parent chain (found, DataWriteGuid matches).
 */
export async function checkVhdx(path: string, opts: { resolveParent?: ParentResolver; maxFindings?: number } = {}): Promise<VhdxCheckResult> {
  const findings: VhdxFinding[] = [];
  const fromError = (e: unknown, structure = 'file') => {
    if (!isHvsnapError(e)) throw e;
    findings.push({ severity: 'error', structure: String(e.context.structure ?? structure), offset: Number(e.context.offset ?? 0), message: e.message });
  };
  const file = await VhdxFile.open(path, false, newReadStats());
  try {
    const p = await parseVhdx(file, { validateBat: false });
    p.headers.slots.forEach((s, i) => {
      if ('problem' in s)
        findings.push({
          severity: 'warning',
          structure: 'header',
          offset: (i + 1) * 65536,
          message: `header ${i + 1}: ${s.problem} (the other header is used)`,
        });
    });
    const [t1, t2] = await Promise.all(REGION_TABLE_OFFSETS.map((o) => file.read(o, REGION_TABLE_SIZE, 'region_table')));
    if (p.regions.usedBackup)
      findings.push({ severity: 'warning', structure: 'region_table', offset: REGION_TABLE_OFFSETS[0], message: 'region table 1 is damaged; table 2 is used' });
    else if (!t1.equals(t2))
      findings.push({ severity: 'warning', structure: 'region_table', offset: REGION_TABLE_OFFSETS[1], message: 'region table 2 differs from table 1' });
    if (p.log.state === 'replayed')
      findings.push({
        severity: 'warning',
        structure: 'log',
        offset: p.headers.current.logOffset,
        message: `the log has ${p.log.entries} pending entries (replayed in memory for reads; a writer applies them)`,
      });
    if (p.log.state === 'empty')
      findings.push({
        severity: 'warning',
        structure: 'log',
        offset: p.headers.current.logOffset,
        message: 'LogGuid is set but the log holds no valid sequence',
      });
    for (const f of await p.bat.scan(p.reserved, opts.maxFindings ?? 100))
      findings.push({ severity: f.severity, structure: 'bat', offset: f.offset, message: f.message });
  } catch (e) {
    fromError(e);
  } finally {
    await file.close();
  }
  if (!findings.some((f) => f.severity === 'error')) {
    try {
      await (await openVhdx(path, opts.resolveParent ? { resolveParent: opts.resolveParent } : {})).close();
    } catch (e) {
      fromError(e, 'parent');
    }
  }
  return { path, ok: !findings.some((f) => f.severity === 'error'), findings };
}

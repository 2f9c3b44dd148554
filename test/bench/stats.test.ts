import { describe, expect, it } from 'vitest';
import { formatNumber, renderTable } from './render-table.js';
import { figure, mbPerSec, ratioRuns, sizeText, type ScenarioResult } from './stats.js';

describe('bench figures', () => {
  it('summarises runs as median, min and max, keeping every run in order', () => {
    expect(figure('t', 'ms', [30, 10, 20])).toEqual({ label: 't', unit: 'ms', median: 20, min: 10, max: 30, runs: [30, 10, 20] });
    expect(figure('t', 'ms', [4, 1, 3, 2]).median).toBe(2.5);
    expect(() => figure('empty', 'ms', [])).toThrow(/figure empty: no runs/);
  });

  it('pairs ratio runs one to one and refuses lists of different lengths', () => {
    expect(ratioRuns([10, 30], [5, 10])).toEqual([2, 3]);
    expect(() => ratioRuns([1, 2, 3], [1, 2])).toThrow(/3 runs over 2 runs/);
  });

  it('converts units as the table states them', () => {
    expect(mbPerSec(200e6, 2000)).toBe(100);
    expect(sizeText(2 * 1024 ** 3)).toBe('2 GiB');
    expect(sizeText(128 * 1024 ** 2)).toBe('128 MiB');
    expect([formatNumber(1234.56), formatNumber(12.345), formatNumber(0.0712), formatNumber(1), formatNumber(10, 'count')]).toEqual([
      '1235',
      '12.3',
      '0.07',
      '1.00',
      '10',
    ]);
  });

  it('renders failures and goals, never hiding a failed scenario', () => {
    const ok: ScenarioResult = {
      id: 'memory',
      title: '6. Data mover memory',
      setup: '32 MiB vs 256 MiB',
      figures: [figure('peak RSS 256 MiB / 32 MiB', 'x', [1.1, 1.2, 1.3])],
      goals: [{ text: 'memory <= 1.3', measured: 1.2, met: true }],
      details: {},
    };
    const failed: ScenarioResult = { id: 'restore', title: '5. Restore', setup: '', figures: [], goals: [], details: {}, error: 'qemu-img exited with 1' };
    const table = renderTable('hvsnap bench (quick)', [ok, failed]);
    expect(table).toMatch(/peak RSS 256 MiB \/ 32 MiB\s+1\.20\s+1\.10\s+1\.30\s+x/);
    expect(table).toContain('FAILED: qemu-img exited with 1');
    expect(table).toContain('[met]      memory <= 1.3: 1.20');
    expect(table).toContain('[failed]   5. Restore');
  });
});

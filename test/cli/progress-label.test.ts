import { describe, expect, it } from 'vitest';
import { jobThrottle } from '../../src/backup/job-throttle.js';
import { progressReporter, shorten } from '../../src/cli/progress.js';
import { captureLogger } from '../../src/core/logger.js';

describe('progress labels people can read', () => {
  it('shows the VM and the VHDX name, cut in the middle when long', () => {
    let out = '';
    let t = 0;
    const p = progressReporter({ stream: { write: (s: string) => (out += s), isTTY: true }, logger: captureLogger(), now: () => t, intervalMs: 1 });
    const id = 'Microsoft:5F1BCBB8-9C3C-4B1B-8E3D-6A63C2B1C4E1\\83F8638B-8DCA-4152-9EDA-2CA8B33039B4\\0\\0\\D';
    p.update(`sql-prod-01 ${id}`, 0, 100, 'sql-prod-01 sql-prod-01-data.vhdx');
    t += 10;
    p.update(`sql-prod-01 ${id}`, 50, 100, 'sql-prod-01 sql-prod-01-data.vhdx');
    expect(out).toContain('sql-prod-01 sql-prod-01-data.vhdx  ');
    expect(out).not.toContain('Microsoft:');
    expect(shorten('finance-reporting-warehouse-01 finance-reporting-warehouse-01-disk2.vhdx', 40)).toMatch(/^finance-reporting-wa….*-disk2\.vhdx$/);
    expect(shorten('finance-reporting-warehouse-01 finance-reporting-warehouse-01-disk2.vhdx', 40)).toHaveLength(40);
    expect(shorten('vm-01 disk.vhdx', 40)).toBe('vm-01 disk.vhdx');
  });
});

describe('the throttle is one cap for the job', () => {
  it('each disk copied at once gets an equal share, and the shares add up to the cap', () => {
    const t = jobThrottle(40e6);
    const copies = [t.enter(), t.enter(), t.enter(), t.enter()];
    expect(copies.map((c) => c.rate!())).toEqual([10e6, 10e6, 10e6, 10e6]);
    copies[0].leave();
    copies[0].leave(); // leaving twice counts once
    expect(copies.slice(1).reduce((n, c) => n + c.rate!(), 0)).toBe(40e6);
    expect(copies[1].rate!()).toBeCloseTo(40e6 / 3);
  });

  it('no cap: no rate function, so each copy reads at full speed', () => {
    expect(jobThrottle(undefined).enter().rate).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { progressReporter } from '../../src/cli/progress.js';
import { captureLogger } from '../../src/core/logger.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('progress', () => {
  it('on a TTY: one line redrawn in place with bytes, rate and ETA', () => {
    let out = '';
    const c = clock();
    const p = progressReporter({ stream: { write: (s: string) => (out += s), isTTY: true }, logger: captureLogger(), now: c.now, intervalMs: 100 });
    c.advance(5_000); // set-up time before the first byte is not counted
    p.update('vm-01 disk0', 0, 100 << 20);
    c.advance(1_000);
    p.update('vm-01 disk0', 25 << 20, 100 << 20);
    expect(out).toContain('\r\x1b[K');
    expect(out).toMatch(/25\.0 MiB \/ 100 MiB {2}25\.0 MiB\/s {2}ETA 3 s$/);
    p.end();
    expect(out.endsWith('\r\x1b[K')).toBe(true);
  });

  it('elsewhere: structured log lines, rate limited', () => {
    const logger = captureLogger();
    const c = clock();
    const p = progressReporter({ stream: { write: () => true, isTTY: false }, logger, now: c.now, intervalMs: 5_000 });
    p.update('a', 0, 10);
    for (let i = 1; i <= 10; i++) {
      c.advance(1_000);
      p.update('a', i, 10);
    }
    const lines = logger.lines.filter((l) => l.msg === 'progress');
    expect(lines.length).toBe(3); // the first, then at 5 s and at 10 s
    expect(lines[2].obj.progress).toMatchObject({ item: 'a', doneBytes: 10, totalBytes: 10, etaSec: 0 });
  });
});

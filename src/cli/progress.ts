import type { Logger } from '../core/logger.js';
import { formatBytes } from './format.js';

/**
 * Progress of long work: on a TTY one line redrawn in place (bytes, rate, ETA); otherwise a
 * structured log line at most every `intervalMs`.
 */
export function progressReporter(opts: { stream: { write(s: string): unknown; isTTY?: boolean }; logger: Logger; intervalMs?: number; now?: () => number }) {
  const now = opts.now ?? Date.now;
  const items = new Map<string, { done: number; total: number }>();
  let started: number | undefined; // the first update, not creation: set-up before the copy is not transfer time
  let last = 0;
  const interval = opts.intervalMs ?? (opts.stream.isTTY ? 200 : 5000);
  return {
    /** `key` identifies the item (VM and disk id); `label` is what a person reads (VM and VHDX name; default the key). */
    update(key: string, done: number, total: number, label = key) {
      items.set(key, { done, total });
      const t = now();
      started ??= t;
      if (t - last < interval) return;
      last = t;
      let done_ = 0;
      let total_ = 0;
      for (const v of items.values()) {
        done_ += v.done;
        total_ += v.total;
      }
      const secs = Math.max((t - started) / 1000, 0.001);
      const rate = done_ / secs;
      const eta = rate > 0 ? Math.max(0, (total_ - done_) / rate) : 0;
      if (opts.stream.isTTY) {
        opts.stream.write(`\r\x1b[K${shorten(label, 40)}  ${formatBytes(done_)} / ${formatBytes(total_)}  ${formatBytes(rate)}/s  ETA ${Math.round(eta)} s`);
      } else {
        opts.logger.info(
          { progress: { item: label, doneBytes: done_, totalBytes: total_, bytesPerSec: Math.round(rate), etaSec: Math.round(eta) } },
          'progress',
        );
      }
    },
    end() {
      if (opts.stream.isTTY && last > 0) opts.stream.write('\r\x1b[K');
    },
  };
}

/** A label cut to `max` characters in the middle, so the VM name and the file name both stay readable. */
export function shorten(label: string, max: number): string {
  if (label.length <= max) return label;
  const head = Math.ceil((max - 1) / 2);
  return `${label.slice(0, head)}…${label.slice(label.length - (max - 1 - head))}`;
}

/**
 * Figures of the bench: every measured quantity is kept with all its runs, and summarised as
 * median, minimum and maximum. Nothing here judges a number; goals are reported, never asserted.
 */

/** One measured quantity over several runs. */
export interface Figure {
  /** what it is, e.g. `hvsnap full backup` */
  label: string;
  /** e.g. `MB/s`, `ms`, `MiB`, `x` (a ratio) */
  unit: string;
  median: number;
  min: number;
  max: number;
  /** every run, in the order measured */
  runs: number[];
}

/** A goal of issue 7, reported against a figure (never asserted). */
export interface Goal {
  text: string;
  /** the value compared with the goal (a median, or a ratio of medians) */
  measured?: number;
  /** whether `measured` meets the goal; undefined when nothing was measured */
  met?: boolean;
}

/** What one scenario hands back to the table and the JSON file. */
export interface ScenarioResult {
  id: string;
  title: string;
  /** sizes and settings used, in words (e.g. `512 MiB disk, 32 MiB VHDX blocks`) */
  setup: string;
  figures: Figure[];
  goals: Goal[];
  /** extra facts worth keeping in the JSON (byte counts, file sizes) */
  details: Record<string, unknown>;
  /** set when a run failed: the bench then exits non-zero */
  error?: string;
}

/** The median of the runs (the lower middle for an even count), with min and max. */
export function figure(label: string, unit: string, runs: number[]): Figure {
  if (runs.length === 0) throw new Error(`figure ${label}: no runs`);
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  return { label, unit, median: mid, min: sorted[0], max: sorted[sorted.length - 1], runs };
}

/** Element-wise ratio of two run lists of the same length (run i of `a` over run i of `b`). */
export function ratioRuns(a: number[], b: number[]): number[] {
  if (a.length !== b.length) throw new Error(`ratio of ${a.length} runs over ${b.length} runs`);
  return a.map((x, i) => x / b[i]);
}

/** Megabytes (10^6 bytes) per second. */
export function mbPerSec(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** `512 MiB`, `2 GiB`. */
export function sizeText(bytes: number): string {
  return bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${Math.round((bytes / MiB) * 10) / 10} MiB`;
}

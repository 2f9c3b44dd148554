import { HvsnapError } from '../core/errors.js';
import type { RestorePointManifest, RetentionDecision, RetentionPolicy } from './types.js';

const DAY_MS = 86_400_000;

/** `2026-W48`: the ISO-8601 week (Monday first, week 1 holds the year's first Thursday), in UTC. */
export function isoWeek(time: Date): string {
  const d = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  const weekday = (d.getUTCDay() + 6) % 7; // Monday = 0
  d.setUTCDate(d.getUTCDate() - weekday + 3); // the Thursday of this week decides the year
  const year = d.getUTCFullYear();
  const week = 1 + Math.floor((d.getTime() - Date.UTC(year, 0, 1)) / DAY_MS / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/** Checks a policy without I/O; `input_invalid` names the option. */
/** The rules of a policy, in the order a person reads them. */
export const RETENTION_KEYS = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

export function checkPolicy(policy: RetentionPolicy): Required<RetentionPolicy> {
  const out = { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, keepYearly: 0 };
  for (const key of RETENTION_KEYS) {
    const v = policy[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0) {
      throw new HvsnapError('input_invalid', `retention option ${key} must be a whole number >= 0, got ${v}`, { context: { field: key } });
    }
    out[key] = v;
  }
  if (RETENTION_KEYS.every((k) => out[k] === 0)) {
    throw new HvsnapError('input_invalid', `the retention policy keeps nothing: set ${RETENTION_KEYS.join(', ')} to at least 1`, {
      context: { field: 'keepLast' },
    });
  }
  return out;
}

/**
 * Decides, per VM, which restore points a policy keeps. Pure: no I/O. Within a VM the newest
 * restore point of a day (week, month, year) represents it; the policies add up (a restore point kept by any
 * of them is kept). Days, weeks, months and years are UTC.
 */
export function selectRetention(manifests: RestorePointManifest[], policy: RetentionPolicy): { kept: RetentionDecision[]; deleted: RetentionDecision[] } {
  const p = checkPolicy(policy);
  const byVm = new Map<string, RestorePointManifest[]>();
  for (const m of manifests) byVm.set(m.vm.id, [...(byVm.get(m.vm.id) ?? []), m]);
  const kept: RetentionDecision[] = [];
  const deleted: RetentionDecision[] = [];
  for (const list of byVm.values()) {
    const newestFirst = [...list].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.id < b.id ? 1 : -1));
    const days = new Set<string>();
    const weeks = new Set<string>();
    const months = new Set<string>();
    const years = new Set<string>();
    newestFirst.forEach((m, i) => {
      const reasons: string[] = [];
      const at = new Date(m.createdAt);
      if (i < p.keepLast) reasons.push(`last ${i + 1}`);
      const day = at.toISOString().slice(0, 10);
      if (!days.has(day) && days.size < p.keepDaily) reasons.push(`daily ${day}`);
      days.add(day);
      const week = isoWeek(at);
      if (!weeks.has(week) && weeks.size < p.keepWeekly) reasons.push(`weekly ${week}`);
      weeks.add(week);
      const month = day.slice(0, 7);
      if (!months.has(month) && months.size < p.keepMonthly) reasons.push(`monthly ${month}`);
      months.add(month);
      const year = day.slice(0, 4);
      if (!years.has(year) && years.size < p.keepYearly) reasons.push(`yearly ${year}`);
      years.add(year);
      const decision = { id: m.id, vmId: m.vm.id, vmName: m.vm.name, createdAt: m.createdAt, reasons };
      (reasons.length ? kept : deleted).push(decision);
    });
  }
  return { kept, deleted };
}

import { createHash } from 'node:crypto';

/** What an array accepts as an object name. */
export interface NameRule {
  /** e.g. `Pure volume` (for messages) */
  what: string;
  maxLength: number;
  /** one allowed character, e.g. /[A-Za-z0-9-]/ */
  allowed: RegExp;
  /** what a rejected character becomes (must itself be allowed) */
  replacement: string;
  /** allowed first character (default: any allowed one) */
  first?: RegExp;
  /** allowed last character (default: any allowed one) */
  last?: RegExp;
}

/**
 * Per-vendor name rules, each from its source:
 * - Pure volumes: 1–63 letters, digits and `-`, beginning and ending with a letter or digit
 *   (openstack/cinder cinder/volume/drivers/pure.py `MAX_VOL_LENGTH = 63`; FA REST 2.x object naming);
 *   a pod prefix `pod::` is not part of the limit (pure.py `_get_pod_for_volume`).
 * - ONTAP FlexVol / igroup names: letters, digits and `_`, starting with a letter or `_`
 *   (ontap-9.7.yaml `volume.name`); FlexVol names at most 203 characters.
 * - ONTAP consistency groups: at most 30 characters (NetApp/trident abstraction_rest.go `ConsistencyGroupSnapshot`, array-apis.md §2.8).
 * - PowerStore volume, clone, snapshot, volume group and host names: at most 128 characters
 *   (powerstore-4.1.0.0.json `volume_create.name`, `volume_clone.name`, `volume_group_create.name`, `host_create.name` maxLength 128).
 */
export const NameRules = {
  pureVolume: { what: 'Pure volume', maxLength: 63, allowed: /[A-Za-z0-9-]/, replacement: '-', first: /[A-Za-z0-9]/, last: /[A-Za-z0-9]/ },
  ontapVolume: { what: 'ONTAP volume', maxLength: 203, allowed: /[A-Za-z0-9_]/, replacement: '_', first: /[A-Za-z_]/ },
  ontapConsistencyGroup: { what: 'ONTAP consistency group', maxLength: 30, allowed: /[A-Za-z0-9_-]/, replacement: '_', first: /[A-Za-z_]/ },
  ontapIgroup: { what: 'ONTAP igroup', maxLength: 96, allowed: /[A-Za-z0-9_.-]/, replacement: '_', first: /[A-Za-z_]/ },
  powerstore: { what: 'PowerStore object', maxLength: 128, allowed: /[^\p{Cc}]/u, replacement: '_' },
} as const satisfies Record<string, NameRule>;

/** A short stable hash of `s`: 8 hex digits of its SHA-256. */
export function nameHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

/** `name` with every character `rule` rejects replaced (no shortening). */
export function sanitizeName(name: string, rule: NameRule): string {
  let out = [...name].map((c) => (rule.allowed.test(c) ? c : rule.replacement)).join('');
  if (rule.first && out.length && !rule.first.test(out[0]!)) out = `x${out}`;
  if (rule.last && out.length && !rule.last.test(out[out.length - 1]!)) out = `${out}0`;
  return out;
}

/**
 * `name` made acceptable under `rule`: rejected characters replaced and, when it is too long,
 * shortened with a stable hash suffix of the ORIGINAL name, so two different long names never
 * collapse into one and the same name always gives the same result (creates stay idempotent by name).
 */
export function fitName(name: string, rule: NameRule): string {
  const out = sanitizeName(name, rule);
  if (out.length <= rule.maxLength) return out;
  const suffix = `${rule.replacement}${nameHash(name)}`;
  return `${out.slice(0, rule.maxLength - suffix.length)}${suffix}`;
}

/** Whether `name` already satisfies `rule` (what fakes check). Returns the problem, or undefined. */
export function nameProblem(name: string, rule: NameRule): string | undefined {
  if (name.length === 0) return `${rule.what} name is empty`;
  if (name.length > rule.maxLength) return `${rule.what} name "${name}" is ${name.length} characters (at most ${rule.maxLength})`;
  const bad = [...name].find((c) => !rule.allowed.test(c));
  if (bad !== undefined) return `${rule.what} name "${name}" has the character "${bad}"`;
  if (rule.first && !rule.first.test(name[0]!)) return `${rule.what} name "${name}" cannot begin with "${name[0]}"`;
  if (rule.last && !rule.last.test(name[name.length - 1]!)) return `${rule.what} name "${name}" cannot end with "${name[name.length - 1]}"`;
  return undefined;
}

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HvsnapError } from '../core/errors.js';
import type { RestorePointManifest } from './types.js';
import { canonicalJson } from '../core/canonical-json.js';

const count = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

const diskSchema = z.looseObject({
  diskId: z.string().min(1),
  virtualDiskId: z.string(),
  sourcePath: z.string(),
  virtualSize: count,
  rctId: z.string().optional(),
  mode: z.enum(['full', 'incremental']),
  bytesRead: count,
  bytesWritten: count,
  chunksNew: count,
  chunksReused: count,
  indexSha256: sha256,
});

/** The format version of a restore point's manifest (not the repository's: see open-repository.ts FORMAT_VERSION). */
export const MANIFEST_VERSION = 2;

/** The schema of a manifest as stored (unknown keys kept, so newer writers are readable). */
export const manifestSchema = z.looseObject({
  formatVersion: z.literal(MANIFEST_VERSION),
  id: z.string().min(1),
  jobId: z.string().min(1),
  vm: z.looseObject({
    id: z.string().min(1),
    name: z.string(),
    host: z.string(),
    configVersion: z.string(),
    generation: z.union([z.literal(1), z.literal(2)]),
  }),
  createdAt: z.iso.datetime({ offset: true }),
  mode: z.enum(['offload', 'snapshot-only', 'host']),
  consistency: z.enum(['application', 'crash']),
  referencePointId: z.string().optional(),
  parentId: z.string().optional(),
  arraySnapshots: z.array(z.looseObject({ provider: z.string(), name: z.string(), retained: z.boolean() })),
  disks: z.array(diskSchema),
  configFiles: z.array(z.string()),
  timings: z.record(z.string(), z.number()),
});

/**
 * The checksum a stored manifest carries in its `checksum` field: `sha256:<hex>` of its canonical
 * JSON without that field, or `hmac-sha256:<hex>` keyed by the id key in an encrypted repository
 * (there, whoever lacks the key cannot forge one).
 */
export function manifestChecksum(manifest: object, macKey?: Buffer): string {
  const { checksum: _, ...body } = manifest as Record<string, unknown>;
  // keys sorted at every level: the same manifest always gives the same text to checksum
  const text = canonicalJson(body);
  return macKey ? `hmac-sha256:${createHmac('sha256', macKey).update(text).digest('hex')}` : `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** The text of a manifest as stored: with its checksum. */
export function sealManifest(manifest: RestorePointManifest, macKey?: Buffer): string {
  return JSON.stringify({ ...manifest, checksum: manifestChecksum(manifest, macKey) }, null, 2) + '\n';
}

/**
 * Checks the checksum of a stored manifest (any edit, by hand or by damage, is
 * `integrity_failed` naming the file), then its fields; returns it without the checksum.
 */
export function openManifest(value: unknown, file: string, macKey?: Buffer): RestorePointManifest {
  const stored = value !== null && typeof value === 'object' ? (value as Record<string, unknown>).checksum : undefined;
  if (typeof stored !== 'string') throw new HvsnapError('integrity_failed', `manifest ${file} has no checksum`, { context: { file, field: 'checksum' } });
  if (stored !== manifestChecksum(value as object, macKey)) {
    throw new HvsnapError('integrity_failed', `manifest ${file} does not match its checksum: it was edited or damaged`, {
      context: { file, field: 'checksum' },
    });
  }
  const { checksum: _, ...body } = value as Record<string, unknown>;
  return parseManifest(body, file);
}

/** Validates a manifest; `repository_invalid` names the file and the first bad field. */
export function parseManifest(value: unknown, file: string): RestorePointManifest {
  const r = manifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.map(String).join('.') || '(root)';
    throw new HvsnapError('repository_invalid', `manifest ${file}: field ${field}: ${issue.message}`, { context: { file, field } });
  }
  return r.data as RestorePointManifest;
}

/** Validates the manifest a writer is about to commit; `input_invalid` names the field. */
export function checkManifestInput(value: unknown, id: string): RestorePointManifest {
  const r = manifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.map(String).join('.') || '(root)';
    throw new HvsnapError('input_invalid', `restore point ${id}: manifest field ${field}: ${issue.message}`, { context: { field, restorePoint: id } });
  }
  return r.data as RestorePointManifest;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$/;

/** True when `id` can be a restore point folder name (no separators, no `..`). */
export function isSafeId(id: unknown): id is string {
  return typeof id === 'string' && SAFE_ID.test(id) && !id.includes('..');
}

let lastMs = 0;

/**
 * A new restore point id: `<UTC time to the ms>-<VM name slug>-<random>`, e.g.
 * `20261126T124100123Z-sql-01-k3f9q2`. Lexical order is time order (the time is made strictly
 * increasing within a process); the slug keeps only `[a-z0-9-]`, so any VM name is safe as a
 * folder name; the random tail keeps ids unique across processes.
 */
export function newRestorePointId(vmName: string, now: number = Date.now()): string {
  const ms = Math.max(now, lastMs + 1);
  lastMs = ms;
  const stamp = new Date(ms).toISOString().replace(/[-:]/g, '').replace('.', '');
  const slug =
    vmName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 32)
      .replace(/-+$/, '') || 'vm';
  return `${stamp}-${slug}-${randomBytes(4).toString('hex')}`;
}

import { z } from 'zod';
import { HvsnapError, isAbortError, isHvsnapError } from '../../src/core/errors.js';
import type { CallOptions } from '../../src/core/types.js';
import type { Logger } from '../../src/core/logger.js';
import { providerError } from './errors.js';
import type { ArrayVolume, HostHandle, HostSpec, Presentation, Provider, SnapshotHandle } from './provider.js';
import { sameIdentity } from './disk-identity.js';
import type { VolumeIdentity } from '../../src/core/types.js';
import { redact, redactString, redactingLogger } from './redact.js';

export interface GuardOptions {
  logger: Logger;
  /** per call, ms (default 300 000); the provider's signal fires when it passes */
  timeoutMs?: number;
  /** per-method overrides of timeoutMs, ms */
  methodTimeoutsMs?: Partial<Record<GuardedMethod, number>>;
  /** secret values (from the config) to keep out of logs and errors */
  secrets?: string[];
}

export type GuardedMethod =
  | 'probe'
  | 'resolveVolumes'
  | 'checkSnapshot'
  | 'createSnapshot'
  | 'listSnapshots'
  | 'deleteSnapshot'
  | 'ensureHost'
  | 'findHost'
  | 'removeHost'
  | 'present'
  | 'unpresent'
  | 'snapshotReady';

/** The methods every provider MUST implement (the conformance suite names a missing one). */
export const REQUIRED_METHODS = [
  'probe',
  'resolveVolumes',
  'checkSnapshot',
  'createSnapshot',
  'listSnapshots',
  'deleteSnapshot',
  'ensureHost',
  'removeHost',
  'present',
  'unpresent',
] as const;

const identity = z.object({ kind: z.enum(['naa', 'eui', 'serial']), id: z.string().min(1), serial: z.string().optional() });
/** A snapshot handle: JSON the journal and the manifest keep. */
export const snapshotHandleSchema = z.object({
  name: z.string().min(1),
  id: z.string().min(1),
  groupId: z.string().min(1).optional(),
  consistencyGroup: z.boolean(),
  createdAt: z.string().min(1),
  volumes: z.array(z.object({ volumeId: z.string().min(1), snapshotId: z.string().min(1), containerId: z.string().min(1).optional() })).min(1),
  ready: z.boolean().optional(),
  attributes: z.record(z.string(), z.string()).optional(),
});
const snapshotSet = snapshotHandleSchema;
const target = z.object({
  transport: z.enum(['iscsi', 'fc', 'nvme', 'folder']),
  portals: z.array(z.string().min(1)).optional(),
  iqns: z.array(z.string().min(1)).optional(),
  wwpns: z.array(z.string().regex(/^[0-9a-f]{16}$/, 'a WWPN as 16 lower-case hex digits')).optional(),
  nqn: z.string().min(1).optional(),
});
const hostHandle = z.object({ id: z.string().min(1), name: z.string().min(1), created: z.boolean() });
const RESULT: Record<GuardedMethod, z.ZodType> = {
  probe: z.object({ vendor: z.string().min(1), model: z.string().optional(), version: z.string().optional() }),
  resolveVolumes: z.array(z.object({ id: z.string().min(1), name: z.string(), identity, sizeBytes: z.number().nonnegative().optional() })),
  checkSnapshot: z.undefined(),
  createSnapshot: snapshotSet,
  ensureHost: hostHandle,
  findHost: hostHandle.optional(),
  removeHost: z.undefined(),
  snapshotReady: z.object({ ready: z.boolean(), progress: z.number().min(0).max(1).optional() }),
  listSnapshots: z.array(snapshotSet),
  deleteSnapshot: z.undefined(),
  present: z.object({
    name: z.string().min(1),
    snapshotName: z.string().min(1),
    host: z.string(),
    target,
    luns: z
      .array(
        z.object({
          volumeId: z.string().min(1),
          sourceIdentity: identity,
          identity,
          lun: z.number().int().nonnegative().optional(),
          path: z.string().optional(),
        }),
      )
      .min(1),
  }),
  unpresent: z.undefined(),
};

/**
 * Wraps a provider in the runtime guard every caller gets from `loadProvider`: it refuses calls
 * after `close()`; gives each call a timeout (aborting the provider's signal); logs each call and
 * its outcome with secrets redacted; checks arguments and return shapes; and turns anything thrown
 * that is not an HvsnapError into `provider_error` with a portable kind. Errors leave with
 * `provider` and `operation` (the provider method) in their context and no secret in their message.
 */
export function guardProvider(inner: Provider, options: GuardOptions): Provider {
  const secrets = options.secrets ?? [];
  const log = redactingLogger(options.logger.child({ provider: inner.name }), () => secrets);
  let closed = false;
  let closing: Promise<void> | undefined;

  const call =
    <A, R>(method: GuardedMethod, check: (args: A) => string | undefined, after?: (args: A, result: R) => string | undefined) =>
    async (args: A, opts: CallOptions = {}): Promise<R> => {
      if (closed)
        throw providerError('invalid', `provider "${inner.name}" is closed; ${method} refused`, {
          provider: inner.name,
          context: { operation: method },
          retryable: false,
        });
      const bad = check(args ?? ({} as A));
      if (bad) throw new HvsnapError('input_invalid', `provider "${inner.name}" ${method}: ${bad}`, { context: { provider: inner.name, operation: method } });
      const timeoutMs = options.methodTimeoutsMs?.[method] ?? options.timeoutMs ?? 300_000;
      const ctl = new AbortController();
      const onAbort = () => ctl.abort(opts.signal?.reason);
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const e = new HvsnapError('timeout', `provider "${inner.name}" ${method} did not finish within ${timeoutMs} ms`, {
            retryable: true,
            context: { provider: inner.name, operation: method, timeoutMs },
          });
          ctl.abort(e);
          reject(e);
        }, timeoutMs);
      });
      const started = performance.now();
      log.debug({ method, args }, 'provider call');
      try {
        const fn = (inner[method] as (a: A, o: CallOptions) => Promise<R>).bind(inner);
        const result = await Promise.race([fn(args, { signal: ctl.signal }), timedOut]);
        const shape = RESULT[method].safeParse(result);
        const problem = shape.success ? after?.(args, result) : shape.error.issues.map((i) => `${i.path.join('.') || '(result)'}: ${i.message}`).join('; ');
        if (problem)
          throw providerError('invalid', `provider "${inner.name}" ${method} returned a bad result: ${problem}`, {
            provider: inner.name,
            context: { operation: method },
            retryable: false,
          });
        log.debug({ method, durationMs: Math.round(performance.now() - started) }, 'provider call done');
        return result;
      } catch (e) {
        const err = normalise(e, inner.name, method, secrets);
        log.debug({ method, durationMs: Math.round(performance.now() - started), error: err.toJSON() }, 'provider call failed');
        throw err;
      } finally {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      }
    };

  const nameCheck = (field: string, v: unknown) => (typeof v === 'string' && v.length > 0 ? undefined : `${field} must be a non-empty string`);
  return {
    name: inner.name,
    // read through: a driver may refine its capabilities once its probe has seen the array version
    get capabilities() {
      return Object.freeze({ ...inner.capabilities });
    },
    probe: call('probe', () => undefined),
    checkSnapshot: call('checkSnapshot', (a: { volumeIds: string[] }) =>
      Array.isArray(a.volumeIds) && a.volumeIds.length > 0 ? undefined : 'volumeIds must list at least one volume',
    ),
    ensureHost: call('ensureHost', (a: { host: HostSpec }) => hostCheck(a.host)),
    ...(inner.findHost
      ? {
          findHost: call(
            'findHost',
            (a: { host: HostSpec }) => hostCheck(a.host),
            (_a, r: HostHandle | undefined) => (r?.created ? 'a host found is not created: created must be false' : undefined),
          ),
        }
      : {}),
    removeHost: call('removeHost', (a: { host: HostHandle }) =>
      a.host && typeof a.host.id === 'string' && a.host.id ? undefined : 'host must be a host handle from ensureHost',
    ),
    ...(inner.snapshotReady ? { snapshotReady: call('snapshotReady', (a: { handle: SnapshotHandle }) => handleCheck('handle', a.handle)) } : {}),
    resolveVolumes: call(
      'resolveVolumes',
      (a: { identities: VolumeIdentity[] }) => (Array.isArray(a.identities) ? undefined : 'identities must be an array'),
      (a, r: ArrayVolume[]) => (r.length === a.identities.length ? undefined : `${r.length} volumes for ${a.identities.length} identities`),
    ),
    createSnapshot: call(
      'createSnapshot',
      (a: { name: string; volumeIds: string[]; consistencyGroup: boolean }) =>
        nameCheck('name', a.name) ??
        (Array.isArray(a.volumeIds) && a.volumeIds.length > 0 ? undefined : 'volumeIds must list at least one volume') ??
        (a.consistencyGroup && inner.capabilities.maxVolumesPerGroup !== undefined && a.volumeIds.length > inner.capabilities.maxVolumesPerGroup
          ? `${a.volumeIds.length} volumes exceed maxVolumesPerGroup ${inner.capabilities.maxVolumesPerGroup}`
          : undefined),
      (a, r: SnapshotHandle) => {
        const missing = a.volumeIds.filter((v) => !r.volumes.some((x) => x.volumeId === v));
        return r.name !== a.name ? `name "${r.name}" is not "${a.name}"` : missing.length ? `no snapshot for volume(s) ${missing.join(', ')}` : undefined;
      },
    ),
    listSnapshots: call('listSnapshots', () => undefined),
    deleteSnapshot: call(
      'deleteSnapshot',
      (a: { name: string; handle?: SnapshotHandle }) => nameCheck('name', a.name) ?? (a.handle === undefined ? undefined : handleCheck('handle', a.handle)),
    ),
    present: call(
      'present',
      (a: { name: string; snapshot: SnapshotHandle; host: HostSpec }) => nameCheck('name', a.name) ?? handleCheck('snapshot', a.snapshot) ?? hostCheck(a.host),
      (a, r: Presentation) => presentedProblem(a.name, a.snapshot, r),
    ),
    unpresent: call('unpresent', (a: { name: string }) => nameCheck('name', a.name)),
    async close() {
      closed = true;
      closing ??= Promise.resolve(inner.close?.()).catch((e) => {
        log.warn({ error: normalise(e, inner.name, 'close', secrets).toJSON() }, 'provider close failed');
      });
      await closing;
    },
  };
}

function handleCheck(field: string, h: unknown): string | undefined {
  const r = snapshotHandleSchema.safeParse(h);
  return r.success
    ? undefined
    : `${field} must be a snapshot handle from createSnapshot (${r.error.issues.map((i) => `${i.path.join('.') || field}: ${i.message}`).join('; ')})`;
}

function hostCheck(h: HostSpec | undefined): string | undefined {
  if (!h || typeof h !== 'object' || typeof h.name !== 'string' || !h.name) return 'host must be an object with a name';
  for (const f of ['iqns', 'wwns', 'nqns'] as const) if (h[f] !== undefined && !Array.isArray(h[f])) return `host.${f} must be an array`;
  return undefined;
}

/** A presentation must answer for the name asked, cover the handle's volumes, and never expose a source volume. */
function presentedProblem(name: string, snapshot: SnapshotHandle, r: Presentation): string | undefined {
  if (r.name !== name) return `name "${r.name}" is not "${name}"`;
  const missing = snapshot.volumes.filter((v) => !r.luns.some((l) => l.volumeId === v.volumeId)).map((v) => v.volumeId);
  if (missing.length) return `no LUN for volume(s) ${missing.join(', ')}`;
  const source = r.luns.find((l) => r.luns.some((s) => sameIdentity(l.identity, s.sourceIdentity)) && r.target.transport !== 'folder');
  return source
    ? `LUN ${source.lun ?? '?'} has the identity ${source.identity.id} of a source volume: a presentation must never expose a source volume`
    : undefined;
}

const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

/** Anything a provider threw, as an HvsnapError with provider context and no secret in its text. */
export function normalise(e: unknown, provider: string, method: string, secrets: string[]): HvsnapError {
  let err: HvsnapError;
  if (isHvsnapError(e)) err = e.withContext({ provider: e.context.provider ?? provider, operation: method });
  else if (isAbortError(e)) err = new HvsnapError('aborted', `provider "${provider}" ${method} was aborted`, { context: { provider, operation: method } });
  else {
    const code = (e as { code?: unknown })?.code;
    const network = typeof code === 'string' && NETWORK.has(code);
    const text = e instanceof Error ? e.message : String(e);
    err = providerError(network ? 'transient' : 'invalid', `provider "${provider}" ${method} failed: ${redactString(text, secrets)}`, {
      provider,
      context: { operation: method, errno: typeof code === 'string' ? code : undefined },
      retryable: network,
      hint: network
        ? undefined
        : `the driver threw a plain ${e instanceof Error ? e.name : typeof e}; throw providerError(kind, message) from hvsnap/sdk so callers get a portable kind (not_found, busy, …)`,
      // the original object may hold credentials (e.g. an HTTP library error with request headers)
      cause: redact(e, secrets),
    });
  }
  const message = redactString(err.message, secrets);
  if (message === err.message) return err;
  const clean = new HvsnapError(err.code, message, { retryable: err.retryable, context: redact(err.context, secrets), hint: err.hint });
  return clean;
}

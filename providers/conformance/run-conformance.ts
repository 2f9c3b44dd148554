import { randomBytes } from 'node:crypto';
import { errorSummary } from '../../src/core/errors.js';
import { silentLogger, type Logger } from '../../src/core/logger.js';
import type { VolumeIdentity } from '../../src/core/types.js';
import { guardProvider } from '../sdk/guard-provider.js';
import { REQUIRED_METHODS } from '../sdk/guard-provider.js';
import type { ArrayVolume, HostSpec, Provider } from '../sdk/provider.js';
import { conformanceCases, type CaseContext, type ConformanceCase } from './cases.js';
import { check } from './check.js';
import { ResourceTracker } from './tracker.js';

/** What the suite needs: a way to make the provider, the volumes to use, and a host to present to. */
export interface ConformanceArgs {
  /** shown in titles and the report, e.g. `pure (nock)` */
  name: string;
  create: () => Promise<Provider>;
  /** identities of existing array volumes the suite may snapshot (2 or more to test consistency groups) */
  volumes: () => Promise<VolumeIdentity[]>;
  host: HostSpec;
  /** a host with FC WWPNs only, for the FC case (skipped without it) */
  fcHost?: HostSpec;
  /**
   * puts the given volumes into a group made by the array's user, not by hvsnap (PowerStore: a volume
   * group), for the foreign-group case (skipped without it)
   */
  foreignGroup?: (volumeIds: string[]) => Promise<() => Promise<void>>;
  /** repeats of each idempotent call (default 2; csi-sanity's IdempotentCount) */
  idempotentCount?: number;
  /** every name the suite makes starts with this (default `hvc` + 6 random hex digits) */
  prefix?: string;
  /** an identity no array has (default an NAA id of zeros after `6`) */
  unknownIdentity?: VolumeIdentity;
  logger?: Logger;
  /** only run cases whose title contains this text */
  only?: string;
  /**
   * Cases known to fail, by title, with the reason (a tracked bug). Under vitest they are
   * registered with `it.fails`, so the run turns red the day they pass and the entry must go.
   * The plain runner still reports them as failed.
   */
  knownFailures?: Record<string, string>;
  /** once it fires, no further case starts (the one running finishes, and its cleanup runs) */
  signal?: AbortSignal;
}

export interface CaseResult {
  group: string;
  title: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** why it failed or was skipped */
  reason?: string;
  cleanupFailures?: string[];
}

export interface ConformanceReport {
  name: string;
  provider: string;
  passed: number;
  failed: number;
  skipped: number;
  results: CaseResult[];
  /** the run was stopped (its signal) before cases it would have run: those are not in `results` */
  stopped?: true;
}

/** The shared state of one run: the provider (guarded, so return shapes are checked) and the resolved volumes. */
export interface ConformanceSession {
  provider: Provider;
  volumes: ArrayVolume[];
  prefix: string;
  close(): Promise<void>;
  /** the skip reason of a case under this session's capabilities, if any */
  skipReason(c: ConformanceCase): string | undefined;
  /** runs one case with its own tracker; cleanup always runs and its failures fail the case */
  runCase(c: ConformanceCase): Promise<void>;
}

/** Opens a session: creates the provider, wraps it in the guard, resolves the volumes. */
export async function openConformanceSession(args: ConformanceArgs): Promise<ConformanceSession> {
  const logger = args.logger ?? silentLogger;
  const raw = await args.create();
  checkShape(raw);
  const provider = guardProvider(raw, { logger, timeoutMs: 120_000 });
  const identities = await args.volumes();
  check(identities.length > 0, 'the conformance suite needs at least one volume identity');
  const volumes = await provider.resolveVolumes({ identities });
  const prefix = args.prefix ?? `hvc${randomBytes(3).toString('hex')}`;
  let seq = 0;
  const unknownIdentity = args.unknownIdentity ?? { kind: 'naa' as const, id: '6' + '0'.repeat(30) + '1' };
  return {
    provider,
    volumes,
    prefix,
    close: async () => {
      await provider.close?.();
    },
    skipReason: (c) =>
      c.skip?.(provider.capabilities, { volumeCount: volumes.length, fcHost: !!args.fcHost, foreignGroup: !!args.foreignGroup, findHost: !!provider.findHost }),
    async runCase(c) {
      const tracker = new ResourceTracker(() => provider, logger);
      const n = ++seq;
      const ctx: CaseContext = {
        provider,
        volumes,
        host: args.host,
        fcHost: args.fcHost,
        foreignGroup: args.foreignGroup,
        tracker,
        prefix,
        unknownIdentity,
        repeat: args.idempotentCount ?? 2,
        name: (tag) => `${prefix}-${n}${tag}`,
      };
      let failure: unknown;
      try {
        await c.run(ctx);
      } catch (e) {
        failure = e;
      }
      const cleanup = await tracker.cleanup();
      if (failure) throw failure;
      check(cleanup.length === 0, `cleanup failed: ${cleanup.map((e) => e.message).join('; ')}`);
    },
  };
}

/**
 * Runs the whole suite outside any test framework (`hvsnap provider-test`) and returns a report.
 * Never throws for a failing case; throws only when the session cannot be opened.
 */
export async function runConformance(args: ConformanceArgs): Promise<ConformanceReport> {
  const session = await openConformanceSession(args);
  const results: CaseResult[] = [];
  let stopped = false;
  const selected = (c: ConformanceCase) => !args.only || c.title.includes(args.only);
  try {
    for (const [i, c] of conformanceCases.entries()) {
      if (!selected(c)) continue;
      if (args.signal?.aborted) {
        stopped = conformanceCases.slice(i).some((rest) => selected(rest) && !session.skipReason(rest));
        break;
      }
      const started = performance.now();
      const skip = session.skipReason(c);
      if (skip) {
        results.push({ group: c.group, title: c.title, status: 'skipped', durationMs: 0, reason: skip });
        continue;
      }
      try {
        await session.runCase(c);
        results.push({ group: c.group, title: c.title, status: 'passed', durationMs: Math.round(performance.now() - started) });
      } catch (e) {
        results.push({
          group: c.group,
          title: c.title,
          status: 'failed',
          durationMs: Math.round(performance.now() - started),
          reason: String(errorSummary(e).message),
        });
      }
    }
  } finally {
    await session.close();
  }
  const count = (s: CaseResult['status']) => results.filter((r) => r.status === s).length;
  return {
    name: args.name,
    provider: session.provider.name,
    passed: count('passed'),
    failed: count('failed'),
    skipped: count('skipped'),
    results,
    ...(stopped && { stopped: true as const }),
  };
}

/**
 * The provider has every method the contract requires, and implements what its capabilities declare.
 * Fails with a message naming the method or capability, before any case runs.
 */
export function checkShape(p: Provider): void {
  const missing = REQUIRED_METHODS.filter((m) => typeof (p as unknown as Record<string, unknown>)[m] !== 'function');
  check(missing.length === 0, `provider "${p.name}" does not implement ${missing.join(', ')} (required by the provider contract, hvsnap/sdk Provider)`);
  const caps = p.capabilities;
  check(caps && typeof caps === 'object', `provider "${p.name}" declares no capabilities`);
  check(
    !caps.backgroundCopy || typeof p.snapshotReady === 'function',
    `provider "${p.name}" declares capability backgroundCopy but does not implement snapshotReady`,
  );
  check(caps.maxVolumesPerGroup === undefined || caps.consistencyGroups, `provider "${p.name}" declares maxVolumesPerGroup without consistencyGroups`);
}

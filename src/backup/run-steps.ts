import { errorSummary, throwIfAborted, toHvsnapError, type ErrorContext, type HvsnapError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Limit } from '../core/concurrency.js';
import { SET_OWNER, type Saga, type UndoKey } from './saga.js';
import type { SetStep, Slots, Step, VmStep } from './steps/step.js';
import type { InstantStepName, StepName } from './types.js';
import type { UndoRecord } from './undo.js';

/**
 * Test hook, for crash tests only: `HVSNAP_TEST_KILL_AFTER=<step name>` makes the runner kill its
 * own process with SIGKILL right after that step's side effect and its journal entry (for a
 * per-VM step: after the first VM's). Nothing is undone, so `hvsnap cleanup` must find it all.
 * Instant restore honours it too, after each of its journaled side effects ({@link killIfAsked}).
 */
export const KILL_AFTER_ENV = 'HVSNAP_TEST_KILL_AFTER';

/** One run of a step list: the shared state, the items per-item steps run over, and what the runner needs around them. */
export interface StepRun<S, V> {
  state: S;
  /** the per-item units (VMs); empty when the list has set steps only */
  items: readonly V[];
  /** the item's undo owner (a VM id) and its name for errors and logs */
  itemOf(item: V): { owner: string; label: string; failed: boolean };
  /** marks an item failed at `step`; its own undos have run */
  failItem(item: V, step: StepName, error: HvsnapError): void;
  saga: Saga;
  log: Logger;
  signal?: AbortSignal;
  /** the limit a per-item step's slots name */
  slots(kind: Slots): Limit;
  /** called before each step (per item for per-item steps); a throw fails the step */
  beforeStep?(step: StepName, item?: string): void | Promise<void>;
  /** context of errors of set-wide steps */
  context?: ErrorContext;
}

/**
 * Runs a step list (a backup mode, a restore) and owns what is around the steps: the journal (an
 * undo is registered before or after its step, as the step declares), settling undos a step makes
 * permanent, per-item failure (that item's undos run at once; the others go on), set-wide failure
 * (everything is undone and every item still running fails with it), hooks, concurrency (per-item
 * steps in a row with the same slots are one pipeline per item) and, at the end, the undo of what
 * is still registered (detach, unpresent, delete the snapshot: step 8). Resolves with the set-wide
 * error, if any; never rejects for a step's failure.
 */
export async function runSteps<S, V>(run: StepRun<S, V>, steps: ReadonlyArray<Step<S, V>>): Promise<HvsnapError | undefined> {
  const live = () => run.items.filter((i) => !run.itemOf(i).failed);
  let current: StepName | undefined;
  try {
    for (let i = 0; i < steps.length;) {
      if (run.items.length > 0 && live().length === 0) break;
      const step = steps[i];
      if (step.scope === 'set') {
        current = step.name;
        await runSetStep(run, step);
        i++;
        continue;
      }
      const pipeline = vmPipeline(steps, i);
      await Promise.all(live().map((item) => run.slots(step.slots)(() => runPipeline(run, pipeline, item))));
      const last = pipeline[pipeline.length - 1];
      if (last.afterAll && live().length > 0) {
        current = last.name;
        await last.afterAll(run.state);
      }
      i += pipeline.length;
    }
  } catch (e) {
    const err = await run.saga.fail(e, { step: current });
    for (const item of live()) run.failItem(item, (err.context.step as StepName | undefined) ?? current!, err);
    run.log.error({ error: errorSummary(err) }, `failed at ${String(err.context.step)}; everything it made is undone`);
    return err;
  }
  const failures = await run.saga.compensate('teardown');
  if (failures.length) run.log.error({ failures: failures.map(errorSummary) }, 'cleanup left something behind; see the job journal');
  return undefined;
}

/** The per-item steps from `start` that run as one pipeline per item: same slots, no barrier. */
function vmPipeline<S, V>(steps: ReadonlyArray<Step<S, V>>, start: number): Array<VmStep<S, V>> {
  const first = steps[start] as VmStep<S, V>;
  const out = [first];
  for (let j = start + 1; j < steps.length && !out[out.length - 1].afterAll; j++) {
    const s = steps[j];
    if (s.scope !== 'vm' || s.slots !== first.slots) break;
    out.push(s);
  }
  return out;
}

async function runSetStep<S, V>(run: StepRun<S, V>, step: SetStep<S>): Promise<void> {
  await run.beforeStep?.(step.name);
  await run.saga.step(step.name, run.context ?? {}, () =>
    sideEffect(
      run,
      step,
      { owner: SET_OWNER, step: step.name },
      () => step.run(run.state),
      () => step.undo?.record(run.state),
      () => step.undo?.refine?.(run.state),
    ),
  );
  killIfAsked(step.name);
}

/** One item through a pipeline; a failure undoes the item's own side effects and ends its pipeline. */
async function runPipeline<S, V>(run: StepRun<S, V>, pipeline: Array<VmStep<S, V>>, item: V): Promise<void> {
  const { owner, label } = run.itemOf(item);
  for (const step of pipeline) {
    if (run.itemOf(item).failed) return;
    try {
      throwIfAborted(run.signal);
      await run.beforeStep?.(step.name, label);
      await run.saga.step(step.name, { vm: label }, () =>
        sideEffect(
          run,
          step,
          { owner, step: step.name },
          () => step.run(run.state, item),
          () => step.undo?.record(run.state, item),
          () => step.undo?.refine?.(run.state, item),
        ),
      );
      killIfAsked(step.name);
    } catch (e) {
      const err = toHvsnapError(e, 'step_failed', { step: step.name, vm: label });
      for (const id of run.saga.idsOf({ owner }).reverse()) await run.saga.undoNow(id).catch((u) => err.suppressed.push(u));
      run.failItem(item, step.name, err);
      run.log.error({ vm: label, step: step.name, error: errorSummary(err) }, `${label} failed at ${step.name}`);
      return;
    }
  }
}

/** A step's side effect between its journal entries: the undo before or after, as declared; then what it settles. */
async function sideEffect<S, V>(
  run: StepRun<S, V>,
  step: Step<S, V>,
  key: Required<UndoKey>,
  effect: () => Promise<void>,
  record: () => ReturnType<NonNullable<Step<S, V>['undo']>['record']> | undefined,
  refine: () => ReturnType<NonNullable<Step<S, V>['undo']>['record']> | undefined = () => undefined,
): Promise<void> {
  // a step whose record is undefined has nothing to journal for this item
  const journal = async (r: UndoRecord | undefined) => (r ? run.saga.register(r, key) : undefined);
  const first = step.undo?.journaled === 'before' ? await journal(record()) : undefined;
  await effect();
  const better = first === undefined ? undefined : refine();
  if (better) {
    // it replaces every record the step journaled (the first, and any its run added: ensure-host's
    // second ask), and is journaled before they are settled: a crash in between leaves them all, and every undo is idempotent
    const replaced = run.saga.idsOf(key);
    await run.saga.register(better, key);
    await run.saga.settleAll(replaced);
  }
  if (step.undo?.journaled === 'after') await journal(record());
  await run.saga.settleAll((step.settles ?? []).flatMap((settled) => run.saga.idsOf({ owner: key.owner, step: settled })));
}

let killed = false;
/**
 * The {@link KILL_AFTER_ENV} hook: SIGKILLs this process when the variable names `step` (once).
 * Callers call it right after a side effect and its journal entry are durable.
 */
export function killIfAsked(step: StepName | InstantStepName): void {
  if (killed || process.env[KILL_AFTER_ENV] !== step) return;
  killed = true;
  process.kill(process.pid, 'SIGKILL');
}

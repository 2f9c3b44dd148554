import { HvsnapError, type ErrorCode, type ErrorContext } from '../core/errors.js';
import { asArray, type WmiJob, type WmiMethodResult } from './wmi-shapes.js';

/**
 * Reading a WMI method result (reference §7): 0 done; 4096 a job that succeeded only in JobState 7
 * (Completed) or 32768 (CompletedWithWarnings); anything else an error mapped to an hvsnap code.
 */

/** JobState values that are not finished (2 New … 6 Shutting Down, 12 QueryPending). */
export const RUNNING_JOB_STATES = new Set([2, 3, 4, 5, 6, 12]);
/** JobState values that mean success. */
export const SUCCESS_JOB_STATES = new Set([7, 32768]);

const JOB_STATE_NAMES: Record<number, string> = {
  2: 'New',
  3: 'Starting',
  4: 'Running',
  5: 'Suspended',
  6: 'Shutting Down',
  7: 'Completed',
  8: 'Terminated',
  9: 'Killed',
  10: 'Exception',
  11: 'Service',
  12: 'Query Pending',
  32768: 'Completed With Warnings',
};

/** Methods whose return values are the CIM family (0–6); all other Hyper-V methods use the vendor family (32768+). */
const CIM_FAMILY = new Set(['CreateSnapshot', 'DestroySnapshot', 'ConvertToReferencePoint', 'CreateReferencePoint', 'ApplySnapshot', 'DestroySnapshotTree']);

const CIM_NAMES: Record<number, string> = { 1: 'Not Supported', 2: 'Failed', 3: 'Timeout', 4: 'Invalid Parameter', 5: 'Invalid State', 6: 'Invalid Type' };
const VENDOR_NAMES: Record<number, string> = {
  32768: 'Failed',
  32769: 'Access Denied',
  32770: 'Not Supported',
  32771: 'Status unknown',
  32772: 'Timeout',
  32773: 'Invalid parameter',
  32774: 'System is in use',
  32775: 'Invalid state for this operation',
  32776: 'Incorrect data type',
  32777: 'System not available',
  32778: 'Out of memory',
  32779: 'File not found or in use',
};

/** The code a plain failure of each method gets. */
const FAILURE_CODE: Record<string, ErrorCode> = {
  CreateSnapshot: 'checkpoint_failed',
  DestroySnapshot: 'checkpoint_failed',
  ModifySystemSettings: 'checkpoint_failed',
  ConvertToReferencePoint: 'reference_point_failed',
  DestroyReferencePoint: 'reference_point_failed',
  ExportSystemDefinition: 'export_failed',
  GetVirtualDiskChanges: 'rct_invalid',
};

export type ResultState = { state: 'done'; warnings: boolean } | { state: 'pending'; job: WmiJob };

/** Where a result came from, for messages and error context. */
export interface ResultContext extends ErrorContext {
  host: string;
  vm?: string;
  /** the checkpoint asked for application consistency (any job failure then means the guest could not give it) */
  applicationConsistency?: boolean;
}

/** Returns done/pending, or throws the mapped HvsnapError. */
export function checkResult(result: WmiMethodResult, ctx: ResultContext): ResultState {
  const method = result.Method;
  if (result.ReturnValue === 0) return { state: 'done', warnings: false };
  if (result.ReturnValue === 4096) {
    const job = result.Job;
    if (!job) throw new HvsnapError('internal', `${method} on ${ctx.host} started a job but the script saw none`, { context: { ...ctx, step: method } });
    if (SUCCESS_JOB_STATES.has(job.JobState)) return { state: 'done', warnings: job.JobState === 32768 };
    if (RUNNING_JOB_STATES.has(job.JobState)) return { state: 'pending', job };
    throw jobError(method, job, ctx);
  }
  throw codeError(method, result.ReturnValue, ctx, `returned ${result.ReturnValue} (${codeName(method, result.ReturnValue)})`);
}

function codeName(method: string, code: number): string {
  return (CIM_FAMILY.has(method) && code < 4096 ? CIM_NAMES[code] : VENDOR_NAMES[code]) ?? 'unknown';
}

function jobError(method: string, job: WmiJob, ctx: ResultContext): HvsnapError {
  const errors = asArray(job.Errors).filter(Boolean);
  const text = [job.ErrorDescription, job.ErrorSummaryDescription, ...errors].filter((s): s is string => !!s && s.trim() !== '');
  const why = `job ${job.InstanceID} ended in state ${job.JobState} (${JOB_STATE_NAMES[job.JobState] ?? 'unknown'}), error code ${job.ErrorCode ?? 'none'}${text.length ? ': ' + [...new Set(text)].join('; ') : ''}`;
  return codeError(method, job.ErrorCode ?? 32768, ctx, why, true);
}

function codeError(method: string, code: number, ctx: ResultContext, why: string, fromJob = false): HvsnapError {
  const cim = CIM_FAMILY.has(method) && !fromJob && code < 4096;
  const failure = FAILURE_CODE[method] ?? 'step_failed';
  let mapped: ErrorCode = failure;
  let retryable = false;
  const key = cim ? (({ 1: 32770, 2: 32768, 3: 32772, 4: 32773, 5: 32775, 6: 32776 } as Record<number, number>)[code] ?? 32768) : code;
  switch (key) {
    case 32769:
      mapped = 'access_denied';
      break;
    case 32770:
      mapped = method === 'GetVirtualDiskChanges' ? 'rct_unsupported' : 'unsupported';
      break;
    case 32772:
      mapped = 'timeout';
      retryable = true;
      break;
    case 32773:
    case 32776:
      mapped = method === 'GetVirtualDiskChanges' ? 'rct_invalid' : 'input_invalid';
      break;
    case 32774:
      mapped = 'vm_in_use';
      retryable = true;
      break;
    case 32775:
    case 32777:
      mapped = 'vm_invalid_state';
      retryable = true;
      break;
    case 32778:
      retryable = true;
      break;
    case 32779:
      mapped = method === 'GetVirtualDiskChanges' ? 'not_found' : 'vm_in_use';
      retryable = method !== 'GetVirtualDiskChanges';
      break;
    default:
      break;
  }
  // Hyper-V names no code for "VSS in the guest failed" (reference §2.2, §7.4): with application
  // consistency asked, a failed snapshot job is read as that, so the caller may fall back.
  if (method === 'CreateSnapshot' && ctx.applicationConsistency && (mapped === 'checkpoint_failed' || (fromJob && mapped === 'timeout'))) {
    mapped = 'app_consistency_failed';
    retryable = false;
  }
  const { applicationConsistency: _a, ...context } = ctx;
  return new HvsnapError(mapped, `${method} on ${ctx.host}${ctx.vm ? ` for VM ${ctx.vm}` : ''} failed: ${why}`, {
    retryable,
    context: { ...context, step: method, status: code },
    hint:
      mapped === 'app_consistency_failed' ? 'check the guest integration services (backup/VSS); the policy may allow a crash-consistent fallback' : undefined,
  });
}

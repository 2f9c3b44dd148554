import { join } from 'node:path';
import { countInFlight } from '../core/inflight-counter.js';
import { HOST_OPERATIONS } from '../hyperv/hypervisor.js';
import type { LabHypervisor } from './lab-hypervisor.js';

/** The counter file of a lab host: counting is on where it exists. */
export function labInFlightFile(dir: string): string {
  return join(dir, 'inflight.json');
}

/** The lab, with its host operations counted in flight per host (`host:<name>`) where the lab's counter file exists. */
export function countedLab(lab: LabHypervisor): LabHypervisor {
  const file = labInFlightFile(lab.dir);
  let hosts: Promise<Map<string, string>> | undefined;
  const hostOf = async (vmId: string | undefined) => {
    hosts ??= lab.listVms({}).then((vms) => new Map(vms.map((v) => [v.id, v.host])));
    return (vmId && (await hosts).get(vmId)) || 'unknown';
  };
  const counted: LabHypervisor = Object.create(lab);
  for (const m of HOST_OPERATIONS) {
    const original = (lab[m] as (...a: unknown[]) => Promise<unknown>).bind(lab);
    (counted as unknown as Record<string, unknown>)[m] = async (args: { vmId?: string; checkpoint?: { vmId: string } }, opts?: unknown) =>
      countInFlight(file, `host:${await hostOf(args.vmId ?? args.checkpoint?.vmId)}`, () => original(args, opts));
  }
  return counted;
}

import { z } from 'zod';
import { defineProvider } from '../sdk/define-provider.js';
import { httpConnectionFields, httpOptionsFrom } from '../sdk/http-config.js';
import { OntapClient } from './client.js';
import { createOntapProvider } from './provider.js';

/** Config of the NetApp ONTAP provider (REST, ONTAP 9.x; consistency groups need 9.10+). */
export const ontapConfigSchema = z
  .object({
    ...httpConnectionFields,
    username: z.string().min(1),
    password: z.string().min(1),
    /** the SVM (vserver) that owns the LUNs */
    svm: z.string().min(1),
    /** seconds ONTAP may hold a write before answering 202 with a job (0–120) */
    returnTimeoutS: z.number().int().min(0).max(120).default(30),
    /** ms to wait for a job after that */
    jobTimeoutMs: z.number().int().positive().default(300_000),
    /** first job poll interval, ms (grows ×1.5 to 5 s) */
    jobPollMs: z.number().int().positive().default(1_000),
    /** igroup `os_type` of igroups this driver creates; default from the host's OS: `hyper_v` for Windows, `linux` */
    igroupOsType: z.enum(['aix', 'hpux', 'hyper_v', 'linux', 'netware', 'openvms', 'solaris', 'vmware', 'windows', 'xen']).optional(),
    igroupProtocol: z.enum(['iscsi', 'fcp', 'mixed']).default('mixed'),
  })
  .strict();

export type OntapConfig = z.input<typeof ontapConfigSchema>;

/** The ONTAP provider definition (`provider: ontap`). */
export const ontapProvider = defineProvider({
  name: 'ontap',
  configSchema: ontapConfigSchema,
  create: (c, ctx) =>
    createOntapProvider(
      new OntapClient({
        endpoint: c.endpoint,
        username: c.username,
        password: c.password,
        svm: c.svm,
        logger: ctx.logger,
        returnTimeoutS: c.returnTimeoutS,
        jobTimeoutMs: c.jobTimeoutMs,
        jobPollMs: c.jobPollMs,
        ...httpOptionsFrom(c),
      }),
      { igroupOsType: c.igroupOsType, igroupProtocol: c.igroupProtocol },
    ),
});

export { OntapClient } from './client.js';
export { createOntapProvider, ontapName } from './provider.js';
export { ontapError, OntapCode } from './errors.js';

import { z } from 'zod';

const windowsAbsolutePath = z.string().regex(/^[A-Za-z]:\\/, 'must be an absolute Windows path like C:\\ProgramData\\hvsnap\\mounts');

/** OfflineReason values (MSFT_Disk) under which the proxy may bring a presented disk online. */
export const ALLOWABLE_OFFLINE_REASONS = ['policy', 'snapshot'] as const;

/** Configuration of the Windows proxy. Validated without I/O; errors name the field. Durations in ms. */
export const windowsProxyConfigSchema = z
  .object({
    kind: z.literal('windows').optional(),
    /** folder under which volumes are mounted as access paths: `<mountRoot>\<presentation>\<lun identity>` */
    mountRoot: windowsAbsolutePath.default('C:\\ProgramData\\hvsnap\\mounts'),
    /** run Update-HostStorageCache before looking for the presented disks */
    rescan: z.boolean().default(true),
    /** how long a presented LUN may take to appear, ms */
    discoveryTimeoutMs: z.number().int().min(0).max(600_000).default(60_000),
    /** how often to rescan while waiting, ms */
    pollMs: z.number().int().min(10).max(60_000).default(2_000),
    /**
     * offline reasons that are expected for a freshly presented snapshot: `policy` (SAN policy
     * offline-shared) and `snapshot` (the LUN holds a shadow-copy volume). A collision or a
     * redundant path is never accepted.
     */
    allowOfflineReasons: z.array(z.enum(ALLOWABLE_OFFLINE_REASONS)).default(['policy', 'snapshot']),
    /**
     * iSCSI targets a presentation names: `false` (default) logs in once per target IQN, through the
     * first portal that answers; `true` once per portal with `-IsMultipathEnabled` (needs MPIO on the proxy)
     */
    iscsiMultipath: z.boolean().default(false),
    /** deadline of each script run, ms */
    scriptTimeoutMs: z.number().int().min(1_000).max(3_600_000).default(120_000),
  })
  .strict();

export type WindowsProxyConfig = z.output<typeof windowsProxyConfigSchema>;
export type WindowsProxyConfigInput = z.input<typeof windowsProxyConfigSchema>;

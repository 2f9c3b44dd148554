import { z } from 'zod';

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), { message: 'must be an absolute path' });

/**
 * Configuration of the Linux proxy. Validated without I/O; errors name the field.
 * Durations in ms.
 */
export const linuxProxyConfigSchema = z
  .object({
    kind: z.literal('linux').optional(),
    /** where volumes are mounted: `<mountRoot>/<presentation>/<lun identity>` */
    mountRoot: absolutePath.default('/run/hvsnap/mounts'),
    /** where the attach state of each presentation is kept, so detach works after a crash (default: mountRoot) */
    stateDir: absolutePath.optional(),
    discovery: z
      .object({
        /**
         * `auto`: from each presentation's target (a local image path → loop device; iSCSI/FC/NVMe → by-id after
         * logging in to the target's portals); `by-id`: presented LUNs appear as SCSI disks; `image-file`: they are
         * disk image files here (the lab array)
         */
        mode: z.enum(['auto', 'by-id', 'image-file']).default('auto'),
        /** the udev by-id folder the LUN identities are looked up in */
        byIdDir: absolutePath.default('/dev/disk/by-id'),
        /** write `- - -` to every /sys/class/scsi_host/host* /scan before looking */
        scsiRescan: z.boolean().default(true),
        /** how long a presented LUN may take to appear, ms */
        timeoutMs: z.number().int().min(0).max(600_000).default(30_000),
        /** how often to look again while waiting, ms */
        pollMs: z.number().int().min(10).max(10_000).default(500),
        /** remove the SCSI device (/sys/block/sdX/device/delete) on detach, before the array unpresents it */
        deleteDeviceOnDetach: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /**
     * iSCSI: discover and log in to these portals before looking, for a presentation whose target names no
     * portals (a driver's presentation target normally does). CHAP belongs in /etc/iscsi/iscsid.conf, never here.
     */
    iscsi: z
      .object({
        portals: z.array(z.string().min(1)).min(1),
        /** target IQNs to log in to; all discovered targets when omitted */
        targets: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    /** extra ntfs-3g options besides `ro` (e.g. `uid=1000`); anything that would make it writable is refused */
    ntfsOptions: z
      .array(z.string().regex(/^[A-Za-z0-9_=.,:-]+$/, 'must be a plain ntfs-3g option'))
      .default([])
      .refine((opts) => !opts.some((o) => /(^|,)(rw|remove_hiberfile|recover)(,|=|$)/.test(o)), {
        message: 'must not contain rw, recover or remove_hiberfile: the proxy mounts read-only',
      }),
  })
  .strict();

export type LinuxProxyConfig = z.output<typeof linuxProxyConfigSchema>;
export type LinuxProxyConfigInput = z.input<typeof linuxProxyConfigSchema>;

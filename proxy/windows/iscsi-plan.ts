import path from 'node:path';
import { HvsnapError } from '../../src/core/errors.js';
import type { Presentation, PresentationTarget } from '../../providers/sdk/provider.js';
import { safeName } from '../mount-map.js';

/** One iSCSI target portal as `New-IscsiTargetPortal` / `Connect-IscsiTarget` take it. */
export interface IscsiPortal {
  address: string;
  /** TCP port; 3260 when the target named none (MSFT_iSCSITargetPortal `New`: "The default value is 3260") */
  port: number;
}

/** The argument of connect-iscsi.ps1 (and, with `recordFile`/`recordsDir` only, of disconnect-iscsi.ps1). */
export interface IscsiConnectInput {
  presentation: string;
  /** where the script records the sessions this presentation uses and which of them it opened */
  recordFile: string;
  /** the folder holding every presentation's record (for sessions two presentations share) */
  recordsDir: string;
  portals: IscsiPortal[];
  iqns: string[];
  /** one session per portal (`-IsMultipathEnabled $true`, needs MPIO); else one session per IQN through the first portal that connects */
  multipath: boolean;
}

/** What connect-iscsi.ps1 reports: per target IQN, the session used and whether this call opened it. */
export interface IscsiConnectResult {
  sessions: Array<{ iqn: string; sessionIdentifier: string; opened: boolean; portal: string | null }>;
}

/** What disconnect-iscsi.ps1 reports. */
export interface IscsiDisconnectResult {
  /** sessions logged out (Disconnect-IscsiTarget -SessionIdentifier) */
  disconnected: string[];
  /** sessions this presentation opened that another presentation still uses: left connected, that one now owns them */
  handedOver: string[];
}

const IQN = /^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$/;

/** `address:port`, `[v6]:port` or a bare address (port 3260), as the SDK's {@link PresentationTarget.portals} holds them. */
export function parsePortal(text: string, where: string): IscsiPortal {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text) ?? /^([^\s:[\]]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? 3260 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new HvsnapError('input_invalid', `${where}: iSCSI portal '${text}' is not address:port`, {
      context: { field: where },
      hint: 'a portal is 192.0.2.10:3260, [2001:db8::10]:3260 or a host name',
    });
  }
  return { address: m[1]!, port };
}

/**
 * What the Windows proxy must connect for a presentation, from its target alone: `undefined` when
 * the target names no iSCSI target to log in to (FC, NVMe, folder, or iSCSI with neither portals nor
 * IQNs — a host whose sessions are set up outside hvsnap), in which case only a rescan is done.
 * Throws `input_invalid` naming the field for a malformed portal or IQN, and for a LUN without an
 * identity, before anything is connected.
 */
export function iscsiPlan(presentation: Presentation, args: { mountRoot: string; multipath: boolean }): IscsiConnectInput | undefined {
  presentation.luns.forEach((lun, i) => {
    if (!lun.identity?.id?.trim()) {
      throw new HvsnapError(
        'input_invalid',
        `LUN ${lun.volumeId} of presentation ${presentation.name} has no identity (NAA/EUI): the Windows proxy cannot tell its disk from any other`,
        {
          context: { field: `presentation.luns[${i}].identity`, volume: lun.volumeId, presentation: presentation.name },
          hint: 'the driver must report the presented LUN identity',
        },
      );
    }
  });
  const target: PresentationTarget | undefined = presentation.target;
  if (target?.transport !== 'iscsi') return undefined;
  const portals = (target.portals ?? []).map((p, i) => parsePortal(p, `presentation.target.portals[${i}]`));
  const iqns = [...new Set(target.iqns ?? [])];
  iqns.forEach((iqn, i) => {
    if (!IQN.test(iqn)) {
      throw new HvsnapError('input_invalid', `presentation.target.iqns[${i}]: '${iqn}' is not an iSCSI name (iqn.yyyy-mm.…, eui.…, naa.…)`, {
        context: { field: `presentation.target.iqns[${i}]`, presentation: presentation.name },
      });
    }
  });
  if (iqns.length === 0) {
    if (portals.length === 0) return undefined;
    throw new HvsnapError('input_invalid', `presentation ${presentation.name}: the iSCSI target names portals but no target IQN`, {
      context: { field: 'presentation.target.iqns', presentation: presentation.name },
      hint: 'the Windows proxy connects exactly the presented target, never every target a portal offers; the driver must report the target IQN',
    });
  }
  return {
    presentation: presentation.name,
    recordFile: iscsiRecordFile(args.mountRoot, presentation.name),
    recordsDir: args.mountRoot,
    portals,
    iqns,
    multipath: args.multipath,
  };
}

/** `<mountRoot>\<presentation>.iscsi.json`: beside the presentation's mount folder, so removing that folder never loses it. */
export function iscsiRecordFile(mountRoot: string, presentationName: string): string {
  return path.win32.join(mountRoot, `${safeName(presentationName)}.iscsi.json`);
}

import { PAYLOAD_STATE_NAMES, SbState } from './constants.js';
import { parseVhdx, type ParsedVhdx } from './parse-vhdx.js';
import { findParent, type ParentResolver } from './parent.js';
import { newReadStats, VhdxFile } from './vhdx-file.js';

/** What `hvsnap vhdx info` shows. Sizes in bytes. */
export interface VhdxInfo {
  path: string;
  fileSize: number;
  creator: string;
  diskType: 'dynamic' | 'fixed' | 'differencing';
  virtualSize: number;
  blockSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  virtualDiskId: string;
  chunkRatio: number;
  payloadBlocks: number;
  headers: Array<{ slot: number; valid: boolean; sequenceNumber?: string; problem?: string; current: boolean }>;
  fileWriteGuid: string;
  dataWriteGuid: string;
  logGuid: string;
  log: { offset: number; length: number; state: 'clean' | 'replayed' | 'empty'; entries: number; sectors: number };
  regions: Array<{ guid: string; fileOffset: number; length: number; required: boolean }>;
  /** payload blocks per state name (FULLY_PRESENT, ZERO, ...) */
  batStates: Record<string, number>;
  sectorBitmapBlocksPresent: number;
  parent?: { locator: Record<string, string>; path?: string; tried?: string[] };
}

/** Reads the facts of a VHDX (log replayed in memory; the file is not changed). */
export async function vhdxInfo(path: string, opts: { resolveParent?: ParentResolver } = {}): Promise<VhdxInfo> {
  const file = await VhdxFile.open(path, false, newReadStats());
  try {
    const p = await parseVhdx(file);
    return await describe(p, opts.resolveParent);
  } finally {
    await file.close();
  }
}

/** Builds the info of an already parsed file. */
export async function describe(p: ParsedVhdx, resolveParent?: ParentResolver): Promise<VhdxInfo> {
  const m = p.metadata;
  const g = p.geometry;
  const batStates: Record<string, number> = {};
  await p.bat.forEachPayload((_b, state) => {
    const name = PAYLOAD_STATE_NAMES[state];
    batStates[name] = (batStates[name] ?? 0) + 1;
  });
  let sbPresent = 0;
  if (m.hasParent) for (let c = 0; c < g.sectorBitmapBlocks; c++) if ((await p.bat.sectorBitmap(c)).state === SbState.PRESENT) sbPresent++;
  const h = p.headers.current;
  const info: VhdxInfo = {
    path: p.file.path,
    fileSize: p.file.physicalSize,
    creator: p.headers.creator,
    diskType: m.hasParent ? 'differencing' : m.leaveBlocksAllocated ? 'fixed' : 'dynamic',
    virtualSize: m.virtualSize,
    blockSize: m.blockSize,
    logicalSectorSize: m.logicalSectorSize,
    physicalSectorSize: m.physicalSectorSize,
    virtualDiskId: m.virtualDiskId,
    chunkRatio: g.chunkRatio,
    payloadBlocks: g.payloadBlocks,
    headers: p.headers.slots.map((s, i) =>
      'problem' in s
        ? { slot: i + 1, valid: false, problem: s.problem, current: false }
        : { slot: i + 1, valid: true, sequenceNumber: s.sequenceNumber.toString(), current: s.slot === h.slot },
    ),
    fileWriteGuid: h.fileWriteGuid,
    dataWriteGuid: h.dataWriteGuid,
    logGuid: h.logGuid,
    log: { offset: h.logOffset, length: h.logLength, state: p.log.state, entries: p.log.entries, sectors: p.log.sectors },
    regions: p.regions.entries.map((r) => ({ ...r })),
    batStates,
    sectorBitmapBlocksPresent: sbPresent,
  };
  if (m.parentLocator) {
    const found = await findParent(p.file.path, m.parentLocator, resolveParent);
    info.parent = { locator: m.parentLocator.entries, ...(found.path ? { path: found.path } : { tried: found.tried }) };
  }
  return info;
}

/** A short human rendering of {@link VhdxInfo}. */
export function formatVhdxInfo(i: VhdxInfo): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(n % 1048576 ? 2 : 0)} MiB`;
  const lines = [
    `${i.path}`,
    `  type            ${i.diskType}`,
    `  virtual size    ${i.virtualSize} bytes (${mib(i.virtualSize)})`,
    `  file size       ${i.fileSize} bytes (${mib(i.fileSize)})`,
    `  block size      ${mib(i.blockSize)}, ${i.payloadBlocks} blocks, chunk ratio ${i.chunkRatio}`,
    `  sectors         logical ${i.logicalSectorSize}, physical ${i.physicalSectorSize}`,
    `  disk id         ${i.virtualDiskId}`,
    `  creator         ${i.creator}`,
    `  headers         ${i.headers.map((h) => `#${h.slot} ${h.valid ? `seq ${h.sequenceNumber}${h.current ? ' (current)' : ''}` : `invalid: ${h.problem}`}`).join('; ')}`,
    `  data write guid ${i.dataWriteGuid}`,
    `  log             ${i.log.state}${i.log.state === 'replayed' ? ` in memory (${i.log.entries} entries, ${i.log.sectors} sectors)` : ''}, ${mib(i.log.length)} at ${i.log.offset}`,
    `  BAT states      ${Object.entries(i.batStates)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  if (i.parent) {
    lines.push(`  parent          ${i.parent.path ?? `NOT FOUND (tried ${i.parent.tried?.join(', ')})`}`);
    for (const [k, v] of Object.entries(i.parent.locator)) lines.push(`    ${k} = ${v}`);
    lines.push(`  sector bitmaps  ${i.sectorBitmapBlocksPresent} present`);
  }
  return lines.join('\n');
}

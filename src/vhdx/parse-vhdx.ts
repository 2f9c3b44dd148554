import { HEADER_SECTION_SIZE } from './constants.js';
import { Bat } from './bat.js';
import { geometry, type Geometry } from './geometry.js';
import { readHeaders, type HeaderPair } from './headers.js';
import { ZERO_GUID } from './guid.js';
import { replayLog, type LogReplay } from './log-replay.js';
import { readMetadata, type VhdxMetadata } from './metadata.js';
import { readRegionTable, type RegionTable } from './region-table.js';
import type { VhdxFile } from './vhdx-file.js';

/** Everything decoded from one VHDX file (with any pending log replayed in memory). */
export interface ParsedVhdx {
  file: VhdxFile;
  headers: HeaderPair;
  log: LogReplay;
  regions: RegionTable;
  metadata: VhdxMetadata;
  geometry: Geometry;
  bat: Bat;
  /** file spans no payload block may use: header section, log, regions */
  reserved: Array<{ name: string; start: number; end: number }>;
}

/**
 * Decodes a VHDX in the order MS-VHDX §2 prescribes: identifier, headers, log replay (in memory, as an
 * overlay on the file's reads), region table, metadata, BAT. With `validateBat` every BAT entry is checked.
 */
export async function parseVhdx(file: VhdxFile, opts: { validateBat?: boolean } = {}): Promise<ParsedVhdx> {
  const headers = await readHeaders(file);
  const h = headers.current;
  const log = h.logGuid === ZERO_GUID ? { state: 'clean' as const, entries: 0, sectors: 0 } : await replayLog(file, h);
  const regions = await readRegionTable(file, { offset: h.logOffset, length: h.logLength });
  const metadata = await readMetadata(file, regions.metadata);
  const g = geometry(metadata.virtualSize, metadata.blockSize, metadata.logicalSectorSize, metadata.hasParent);
  const bat = new Bat(file, regions.bat, g, metadata.hasParent);
  const reserved = [
    { name: 'header section', start: 0, end: HEADER_SECTION_SIZE },
    ...(h.logLength ? [{ name: 'log', start: h.logOffset, end: h.logOffset + h.logLength }] : []),
    ...regions.entries.map((r) => ({
      name: r === regions.bat ? 'BAT region' : r === regions.metadata ? 'metadata region' : `region ${r.guid}`,
      start: r.fileOffset,
      end: r.fileOffset + r.length,
    })),
  ];
  if (opts.validateBat !== false) await bat.validate(reserved);
  return { file, headers, log, regions, metadata, geometry: g, bat, reserved };
}

import { HvsnapError } from '../core/errors.js';

/** The on-disk structure an error is about; goes into the error context as `structure`. */
export type VhdxStructure =
  'file' | 'file_identifier' | 'header' | 'region_table' | 'metadata' | 'parent_locator' | 'bat' | 'sector_bitmap' | 'payload' | 'log' | 'parent' | 'options';

/** Where a problem is: the file, the structure and the byte offset in the file (or virtual offset for payload). */
export interface VhdxWhere {
  file: string;
  structure: VhdxStructure;
  offset: number;
}

function describe(where: VhdxWhere, message: string): string {
  return `${where.file}: ${where.structure} at offset ${where.offset}: ${message}`;
}

/** A malformed or inconsistent VHDX file (`vhdx_invalid`), with context `{ file, offset, structure }`. */
export function vhdxInvalid(where: VhdxWhere, message: string, cause?: unknown): HvsnapError {
  return new HvsnapError('vhdx_invalid', describe(where, message), { context: { ...where }, cause });
}

/** A valid VHDX using a feature hvsnap does not handle (`vhdx_unsupported`). */
export function vhdxUnsupported(where: VhdxWhere, message: string, cause?: unknown): HvsnapError {
  return new HvsnapError('vhdx_unsupported', describe(where, message), { context: { ...where }, cause });
}

/** VHDX on-disk constants (MS-VHDX §2). Sizes in bytes. */
export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const FILE_SIGNATURE = 'vhdxfile';
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const HEADER_SIZE = 4 * KiB;
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const REGION_TABLE_SIZE = 64 * KiB;
/** the header section: identifier, two headers, two region tables */
export const HEADER_SECTION_SIZE = MiB;
export const METADATA_TABLE_SIZE = 64 * KiB;
export const MAX_METADATA_ITEM = MiB;
export const SECTOR_BITMAP_BLOCK_SIZE = MiB;
export const LOG_SECTOR = 4 * KiB;
/** largest virtual size the spec allows: 64 TB */
export const MAX_VIRTUAL_SIZE = 64 * 1024 * GiB;
export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;

export const REGION_BAT = '2dc27766-f623-4200-9d64-115e9bfd4a08';
export const REGION_METADATA = '8b7ca206-4790-4b9a-b8fe-575f050f886e';

export const META_FILE_PARAMETERS = 'caa16737-fa36-4d43-b3b6-33f0aa44e76b';
export const META_VIRTUAL_DISK_SIZE = '2fa54224-cd1b-4876-b211-5dbed83bf4b8';
export const META_VIRTUAL_DISK_ID = 'beca12ab-b2e6-4523-93ef-c309e000c746';
export const META_LOGICAL_SECTOR_SIZE = '8141bf1d-a96f-4709-ba47-f233a8faab5f';
export const META_PHYSICAL_SECTOR_SIZE = 'cda348c7-445d-4471-9cc9-e9885251c556';
export const META_PARENT_LOCATOR = 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c';
export const PARENT_LOCATOR_TYPE_VHDX = 'b04aefb7-d19e-4a81-b789-25b8e9445913';

/** Payload block states (BAT bits 0-2). */
export const PayloadState = {
  NOT_PRESENT: 0,
  UNDEFINED: 1,
  ZERO: 2,
  UNMAPPED: 3,
  /** draft spec 0.95 value for UNMAPPED; qemu accepts it */
  UNMAPPED_V095: 5,
  FULLY_PRESENT: 6,
  PARTIALLY_PRESENT: 7,
} as const;

export const PAYLOAD_STATE_NAMES: Record<number, string> = {
  0: 'NOT_PRESENT',
  1: 'UNDEFINED',
  2: 'ZERO',
  3: 'UNMAPPED',
  4: 'RESERVED_4',
  5: 'UNMAPPED_V095',
  6: 'FULLY_PRESENT',
  7: 'PARTIALLY_PRESENT',
};

/** Sector bitmap block states. */
export const SbState = { NOT_PRESENT: 0, PRESENT: 6 } as const;

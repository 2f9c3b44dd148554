import type { ReadableImage } from './chunked-disk.js';

/** A node of the read-only tree a mount serves. */
export type TreeNode = { kind: 'dir'; children: string[] } | { kind: 'file'; image: ReadableImage };

/** What one disk contributes: `<name>.vhdx`, `<name>.raw`, and per NTFS partition N `<name>-pN.img` and the folder `<name>-pN/`. */
export interface DiskEntry {
  name: string;
  vhdx: ReadableImage;
  raw: ReadableImage;
  partitions: Array<{ number: number; image: ReadableImage }>;
}

/** The tree of paths (`/`, `/<vm>`, `/<vm>/<file>`) over the disks of one VM folder. */
export function buildTree(vmFolder: string, disks: DiskEntry[]): Map<string, TreeNode> {
  const tree = new Map<string, TreeNode>();
  const names: string[] = [];
  const add = (name: string, node: TreeNode) => {
    tree.set(`/${vmFolder}/${name}`, node);
    names.push(name);
  };
  for (const d of disks) {
    add(`${d.name}.vhdx`, { kind: 'file', image: d.vhdx });
    add(`${d.name}.raw`, { kind: 'file', image: d.raw });
    for (const p of d.partitions) {
      add(`${d.name}-p${p.number}.img`, { kind: 'file', image: p.image });
      add(`${d.name}-p${p.number}`, { kind: 'dir', children: [] });
    }
  }
  tree.set('/', { kind: 'dir', children: [vmFolder] });
  tree.set(`/${vmFolder}`, { kind: 'dir', children: names });
  return tree;
}

/** One name per disk from its source file name; two disks with one name get distinct names. */
export function diskNames(sourcePaths: string[]): string[] {
  const used = new Set<string>();
  return sourcePaths.map((p, i) => {
    const base =
      p
        .split(/[\\/]/)
        .pop()
        ?.replace(/\.a?vhdx?$/i, '') || `disk${i}`;
    let name = base;
    for (let n = 2; used.has(name.toLowerCase()); n++) name = `${base}-${n}`;
    used.add(name.toLowerCase());
    return name;
  });
}

import { errorSummary } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { FuseBinding, FuseOps, FuseStat } from './fuse-binding.js';
import type { TreeNode } from './mount-tree.js';

const O_ACCMODE = 3;

/**
 * FUSE operations over a read-only tree: directories list their children, files read from their
 * image. Opening for writing is EROFS; a failed read (a missing or corrupt chunk) is EIO, logged.
 */
export function treeOps(tree: Map<string, TreeNode>, fuse: Pick<FuseBinding, 'ENOENT' | 'EIO' | 'EROFS'>, opts: { mtime: Date; logger: Logger }): FuseOps {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const stat = (node: TreeNode): FuseStat => ({
    mode: node.kind === 'dir' ? 0o40555 : 0o100444,
    uid,
    gid,
    size: node.kind === 'dir' ? 4096 : node.image.size,
    nlink: node.kind === 'dir' ? 2 : 1,
    mtime: opts.mtime,
    atime: opts.mtime,
    ctime: opts.mtime,
  });
  return {
    getattr(path, cb) {
      const node = tree.get(path);
      return node ? cb(0, stat(node)) : cb(fuse.ENOENT);
    },
    readdir(path, cb) {
      const node = tree.get(path);
      return node?.kind === 'dir' ? cb(0, node.children) : cb(fuse.ENOENT);
    },
    open(path, flags, cb) {
      const node = tree.get(path);
      if (node?.kind !== 'file') return cb(fuse.ENOENT);
      return (flags & O_ACCMODE) !== 0 ? cb(fuse.EROFS) : cb(0, 0);
    },
    release(_path, _fd, cb) {
      cb(0);
    },
    read(path, _fd, buf, len, pos, cb) {
      const node = tree.get(path);
      if (node?.kind !== 'file') return cb(fuse.ENOENT);
      node.image.read(pos, len).then(
        (data) => cb(data.copy(buf, 0, 0, Math.min(len, data.length))),
        (e) => {
          opts.logger.error({ path, offset: pos, length: len, error: errorSummary(e) }, 'read from the mounted restore point failed');
          cb(fuse.EIO);
        },
      );
    },
    statfs(_path, cb) {
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: tree.size, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 });
    },
  };
}

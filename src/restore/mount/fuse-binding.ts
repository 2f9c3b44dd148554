import { resolve } from 'node:path';
import { HvsnapError } from '../../core/errors.js';
import { mountsUnder, unmountPoint } from './mount-table.js';

/** The attributes FUSE wants for a path (fuse-native's Stats, the fields we set). */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
}

/** The FUSE operations a read-only tree implements (fuse-native's callback shapes). */
export interface FuseOps {
  getattr(path: string, cb: (err: number, stat?: FuseStat) => void): void;
  readdir(path: string, cb: (err: number, names?: string[]) => void): void;
  open(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
  release(path: string, fd: number, cb: (err: number) => void): void;
  read(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (bytesOrErr: number) => void): void;
  statfs(path: string, cb: (err: number, stats?: Record<string, number>) => void): void;
}

/** The part of a fuse-native `Fuse` instance we use. */
export interface FuseMount {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

/** The part of the fuse-native module we use: the class and its errno constants. */
export interface FuseBinding {
  new (
    mountpoint: string,
    ops: FuseOps,
    opts: { force?: boolean; mkdir?: boolean; allowOther?: boolean; fsname?: string; subtype?: string; timeout?: number | false },
  ): FuseMount;
  /** how the binding unmounts a mount point before it lets its FUSE thread go */
  unmount(mountpoint: string, cb: (err: Error | null) => void): void;
  ENOENT: number;
  EIO: number;
  EACCES: number;
  EROFS: number;
}

/**
 * Loads the FUSE binding (`@cocalc/fuse-native`, a maintained fork of fuse-native that links the
 * system's libfuse 2 and builds with node-gyp at install). It is an optional dependency: where it
 * did not build, mount is the one command that cannot run, and says why.
 */
export async function loadFuse(): Promise<FuseBinding> {
  let binding: FuseBinding;
  try {
    // a specifier in a variable: the type check never needs the optional package (it is absent where it did not build)
    const specifier = '@cocalc/fuse-native';
    binding = ((await import(specifier)) as { default: FuseBinding }).default;
  } catch (e) {
    throw new HvsnapError('unsupported', 'the FUSE binding (@cocalc/fuse-native) is not installed or did not build', {
      cause: e,
      hint: 'install libfuse (Debian: apt-get install fuse3 libfuse2 libfuse-dev pkg-config make g++ python3), then rebuild the binding with: npm rebuild @cocalc/fuse-native',
    });
  }
  // The binding unmounts with `fusermount -uz` and releases its thread only when that succeeds: it
  // fails where only fuse3 is installed (fusermount3) and when the mount was already taken away by
  // `hvsnap umount`, and the process then never exits. Its close path calls this static method, so
  // ours replaces it: unmount if still mounted, else nothing to do.
  binding.unmount = (mountpoint, cb) => {
    mountsUnder(mountpoint)
      .then((m) => (m.includes(resolve(mountpoint)) ? unmountPoint(resolve(mountpoint)) : undefined))
      .then(
        () => cb(null),
        (e: Error) => cb(e),
      );
  };
  return binding;
}

/**
 * Host mode's proxy side (DESIGN.md, "host"): a read-only SFTP {@link Mount} over a Hyper-V node's
 * own SSH connection, for VMs whose volumes no array provider owns.
 */
export { createSftpMount, type SftpMountArgs } from './sftp-mount.js';
export { sftpFiles, type SftpClient, type SftpFilesOptions } from './sftp-files.js';
export { sftpPathOf, type SftpRoot } from './sftp-path.js';

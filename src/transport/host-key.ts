import { createHash } from 'node:crypto';

/**
 * The OpenSSH-style fingerprint of a raw public host key: `SHA256:` + unpadded base64 of its SHA-256,
 * exactly what `ssh-keygen -lf key.pub` prints, so an admin can copy it from the host.
 */
export function hostKeyFingerprint(rawKey: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(rawKey).digest('base64').replace(/=+$/, '');
}

/** Compares two fingerprints, tolerating a missing `SHA256:` prefix and base64 padding. */
export function sameFingerprint(a: string, b: string): boolean {
  const norm = (s: string) =>
    s
      .trim()
      .replace(/^SHA256:/i, '')
      .replace(/=+$/, '');
  return norm(a) === norm(b);
}

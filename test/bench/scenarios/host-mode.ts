import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readState } from '../../../src/lab/lab-state.js';
import { startSshd } from '../../transport/sshd-fixture.js';
import { clearReferencePoints } from '../bench-env.js';
import type { BenchContext, DiskLab } from '../bench-context.js';
import { runPeer } from '../run-peer.js';
import { runWorker } from '../run-worker.js';
import { figure, mbPerSec, ratioRuns, sizeText, type ScenarioResult } from '../stats.js';
import { findTool } from '../../helpers/requirements.js';

/**
 * 11. Host mode: a full backup that reads the frozen VHDX over SFTP from the "host" (an OpenSSH
 * server on 127.0.0.1 serving the lab's volumes), against `scp` of the same VHDX from the same
 * server (OpenSSH 9's scp speaks SFTP too). Throughput is the VHDX file's bytes over wall time, so
 * the ratio is a ratio of times. Needs root and openssh-server; otherwise the scenario says so and
 * gives no figures.
 */
export async function hostModeScenario(ctx: BenchContext, disk: DiskLab): Promise<ScenarioResult> {
  const base = { id: 'host-mode', title: '11. Host mode over SFTP', goals: [], details: {} };
  const missing =
    process.getuid?.() !== 0
      ? 'needs root (it starts its own sshd)'
      : !findTool('sshd') || !findTool('scp')
        ? 'needs openssh-server and openssh-client (apt-get install openssh-server)'
        : undefined;
  if (missing) return { ...base, setup: `skipped: ${missing}`, figures: [] };
  const dir = join(ctx.dir, 'host-mode');
  await mkdir(dir, { recursive: true });
  const sshd = await startSshd();
  try {
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${readFileSync(join(sshd.dir, 'host_key.pub'), 'utf8')}`);
    const key = join(dir, 'client_key');
    await writeFile(key, sshd.clientKey, { mode: 0o600 });
    const roots = await readState(disk.labDir, (s) => s.volumes.map((v) => ({ hostRoot: v.hostRoot, sftpRoot: v.dir })));
    const t = { hvsnap: [] as number[], scp: [] as number[] };
    for (let r = 0; r < ctx.runs; r++) {
      ctx.progress(`host mode: run ${r + 1}/${ctx.runs}`);
      const repoDir = join(dir, `repo-${r}`);
      const a = await runWorker({
        kind: 'backup',
        labDir: disk.labDir,
        repoDir,
        forceFull: true,
        host: { port: sshd.port, clientKey: sshd.clientKey, hostKeyFingerprint: sshd.hostKeyFingerprint, roots },
      });
      t.hvsnap.push(a.ms);
      await rm(repoDir, { recursive: true, force: true });
      await clearReferencePoints(disk.labDir);
      const copy = join(dir, 'scp.vhdx');
      // host key checking stays on: the server's key is in our own known_hosts file
      t.scp.push(
        await runPeer('scp', [
          '-q',
          '-P',
          String(sshd.port),
          '-i',
          key,
          '-o',
          `UserKnownHostsFile=${knownHosts}`,
          '-o',
          'StrictHostKeyChecking=yes',
          '-o',
          'BatchMode=yes',
          `root@127.0.0.1:${disk.file}`,
          copy,
        ]),
      );
      await rm(copy, { force: true });
    }
    // the incrementals before this scenario may have grown the file: its size now is what both read
    const fileBytes = (await stat(disk.file)).size;
    const speed = (ms: number[]) => ms.map((x) => mbPerSec(fileBytes, x));
    return {
      ...base,
      setup: `${sizeText(disk.virtualSize)} disk, half data; MB/s = VHDX file bytes (${sizeText(fileBytes)}) / wall time; sshd and sftp-server on 127.0.0.1`,
      figures: [
        figure('hvsnap host-mode full backup (SFTP, whole job)', 'MB/s', speed(t.hvsnap)),
        figure('scp of the VHDX', 'MB/s', speed(t.scp)),
        figure('hvsnap / scp (throughput)', 'x', ratioRuns(t.scp, t.hvsnap)),
      ],
      details: { ms: t },
    };
  } finally {
    await sshd.stop();
  }
}

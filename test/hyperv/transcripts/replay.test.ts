import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openRecorder, withRecording } from '../../../src/transport/recording-shell.js';
import { TranscriptReplay } from '../../../src/transport/replay-shell.js';
import { readTranscript, type Transcript } from '../../../src/transport/transcript.js';
import { hypervisorOver, namesFrom, recordingHooks, scenarios } from './scenarios.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'hvsnap-transcripts-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Records one scenario on the simulated host(s) through withRecording; returns the transcript and what the calls returned. */
async function record(name: string, anonymize: boolean): Promise<{ transcript: Transcript; file: string; result: unknown[] }> {
  const s = scenarios[name];
  const hosts = s.hosts();
  const recorder = openRecorder({ dir: path.join(tmp, `${name}-${anonymize}`), command: name, anonymize, secrets: ['Tr0ub4dor&3'] });
  const hv = hypervisorOver(hosts.map((h) => ({ name: h.computerName, shell: withRecording(h.shell, recorder) })));
  const result = await s.run(hv, namesFrom(undefined), recordingHooks(name, hosts));
  return { transcript: readTranscript(recorder.writer.file), file: recorder.writer.file, result };
}

/** Replays a transcript through the same scenario; every recorded call must be made, in order per node, and no other. */
async function replay(name: string, transcript: Transcript): Promise<{ result: unknown[]; replay: TranscriptReplay }> {
  // waitMs is tuning a recording host's config may set differently (jobWaitMs, scriptTimeoutMs)
  const r = new TranscriptReplay(transcript, { ignoreKeys: ['waitMs'] });
  // nodes in the order of their targets (a recording's config order is not in the transcript)
  const hv = hypervisorOver([...r.targets()].sort().map((t) => ({ name: t, shell: r.shell(t) })));
  const result = await scenarios[name].run(hv, namesFrom(transcript), () => undefined);
  expect(r.remaining().map((e) => `${e.seq} ${e.script}`)).toEqual([]);
  return { result, replay: r };
}

const perTarget = (calls: Array<{ target: string; script: string; input: unknown }>) => {
  const by: Record<string, string[]> = {};
  for (const c of calls) (by[c.target] ??= []).push(`${c.script} ${JSON.stringify(c.input)}`);
  return by;
};

describe('a transcript recorded from the simulated host replays to the same calls', () => {
  it.each(Object.keys(scenarios))('%s', async (name) => {
    const recorded = await record(name, false);
    expect(recorded.transcript.entries.length).toBeGreaterThan(3);
    const replayed = await replay(name, recorded.transcript);
    expect(perTarget(replayed.replay.calls)).toEqual(
      perTarget(recorded.transcript.entries.map((e) => ({ target: e.target, script: e.script, input: e.input }))),
    );
    expect(replayed.result).toEqual(recorded.result);
  });

  it.each(Object.keys(scenarios))('%s, anonymized: no name or path of the host is left, and it still replays', async (name) => {
    const recorded = await record(name, true);
    const text = readFileSync(recorded.file, 'utf8');
    for (const original of ['sql01', 'web01', 'HV01', 'Volume1', 'NETAPP', 'fake://']) expect(text).not.toContain(original);
    expect(recorded.transcript.header.anonymized).toBe(true);
    await replay(name, recorded.transcript);
  });

  it('refuses a call the transcript does not hold, naming the entry it expected', async () => {
    const { transcript } = await record('backup-cycle', false);
    const r = new TranscriptReplay(transcript);
    const hv = hypervisorOver(r.targets().map((t) => ({ name: t, shell: r.shell(t) })));
    await expect(hv.listVmGroups({})).rejects.toThrow(/expected get-vms\.ps1 \(entry 1\)/);
  });
});

describe('the transcripts in test/hyperv/transcripts replay as contracts of WmiHypervisor', () => {
  const files = readdirSync(here).filter((f) => f.endsWith('.jsonl'));
  it('holds one for every scenario', () => {
    for (const name of Object.keys(scenarios)) expect(files.some((f) => f.startsWith(`${name}.`))).toBe(true);
  });
  it.each(files)('%s', async (file) => {
    const name = file.split('.')[0];
    expect(Object.keys(scenarios)).toContain(name);
    await replay(name, readTranscript(path.join(here, file)));
  });

  it.runIf(process.env.HVSNAP_WRITE_TRANSCRIPTS === '1')('writes the documented transcripts (HVSNAP_WRITE_TRANSCRIPTS=1)', async () => {
    for (const name of Object.keys(scenarios)) {
      const { file } = await record(name, false);
      const lines = readFileSync(file, 'utf8').split('\n');
      const header = {
        ...JSON.parse(lines[0]),
        source: 'documented',
        note: 'written from the documented shapes (test/hyperv/simulated-host.ts), not from a real host',
      };
      writeFileSync(path.join(here, `${name}.documented.jsonl`), [JSON.stringify(header), ...lines.slice(1)].join('\n'));
    }
  });
});

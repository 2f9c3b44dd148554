import type { Logger } from '../../src/core/logger.js';
import type { Provider, SnapshotHandle } from '../sdk/provider.js';

/**
 * Records what the conformance suite created so that it is always removed, whatever failed:
 * presentations first (newest first), then snapshot sets. Cleanup logs and continues past a
 * failure, and returns every failure so the suite can report it.
 */
export class ResourceTracker {
  private snapshots: string[] = [];
  private presentations: string[] = [];
  private handles = new Map<string, SnapshotHandle>();

  constructor(
    private readonly provider: () => Provider,
    private readonly logger: Logger,
  ) {}

  /** Call BEFORE createSnapshot: a call that fails half-way may still leave something behind. */
  snapshot(name: string): string {
    if (!this.snapshots.includes(name)) this.snapshots.push(name);
    return name;
  }

  /** Call AFTER createSnapshot returned: cleanup then deletes by the array's ids. Returns the handle. */
  handle(h: SnapshotHandle): SnapshotHandle {
    this.handles.set(h.name, h);
    return h;
  }

  /** Call BEFORE present, for the same reason. */
  presentation(name: string): string {
    if (!this.presentations.includes(name)) this.presentations.push(name);
    return name;
  }

  /** Removes everything recorded; returns the failures (empty when all went well). */
  async cleanup(): Promise<Error[]> {
    const failures: Error[] = [];
    const p = this.provider();
    // cleanup must run even when the case's own signal was aborted: no signal here
    for (const name of this.presentations.reverse()) {
      await p.unpresent({ name }).catch((e: Error) => {
        failures.push(e);
        this.logger.warn({ name, error: e.message }, 'conformance cleanup: unpresent failed');
      });
    }
    for (const name of this.snapshots.reverse()) {
      await p.deleteSnapshot({ name, handle: this.handles.get(name) }).catch((e: Error) => {
        failures.push(e);
        this.logger.warn({ name, error: e.message }, 'conformance cleanup: deleteSnapshot failed');
      });
    }
    this.presentations = [];
    this.snapshots = [];
    this.handles.clear();
    return failures;
  }
}

/** How a stop signal reached this process: sent to it, or passed on by its launcher (relaunch.ts). */
export type SignalRoute = 'direct' | 'relayed';

/**
 * How soon after a signal the same signal by the same route is taken as a copy of it: a wrapper
 * that passes signals on (npm's run-script, so `npx hvsnap`) sends one more of each Ctrl-C or
 * systemd stop that already reached the whole group, within milliseconds when its loop is idle. A
 * person's second Ctrl-C, meant to stop at once, answers the "stopping" line; the window is short
 * because each delivery is timed when this process's loop takes it, which may be late.
 */
export const COPY_WINDOW_MS = 500;

/**
 * Counts the requests to stop a process got from its SIGINTs and SIGTERMs, where one request can
 * arrive twice: a terminal's Ctrl-C and a service manager's stop (systemd's default KillMode) reach
 * every process of the group, the launcher too, which passes what it gets on. A signal sent to the
 * launcher alone comes only relayed, one sent to the command alone only direct. So the requests of
 * one signal are the larger of its two counts, in whatever order and however late the copies come;
 * by one route, a repeat within {@link COPY_WINDOW_MS} is a copy too.
 */
export class StopRequests {
  private readonly counts = new Map<NodeJS.Signals, Record<SignalRoute, { n: number; at: number }>>();

  /** Records one delivery of `signal` at `at` (ms, monotonic); returns the number of requests so far, of all signals. */
  add(signal: NodeJS.Signals, route: SignalRoute, at = performance.now()): number {
    const c = this.counts.get(signal) ?? { direct: { n: 0, at: -Infinity }, relayed: { n: 0, at: -Infinity } };
    // measured from the last delivery counted, not the last copy: a signal repeated without pause still counts again
    if (at - c[route].at >= COPY_WINDOW_MS) c[route] = { n: c[route].n + 1, at };
    this.counts.set(signal, c);
    let requests = 0;
    for (const { direct, relayed } of this.counts.values()) requests += Math.max(direct.n, relayed.n);
    return requests;
  }
}

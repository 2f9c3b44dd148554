/** How a stop signal reached this process: sent to it, or passed on by its launcher (relaunch.ts). */
export type SignalRoute = 'direct' | 'relayed';

/**
 * Counts the requests to stop a process got from its SIGINTs and SIGTERMs, where one request can
 * arrive twice: a terminal's Ctrl-C and a service manager's stop (systemd's default KillMode) reach
 * every process of the group, the launcher too, which passes what it gets on. A signal sent to the
 * launcher alone comes only relayed, one sent to the command alone only direct. So the requests of
 * one signal are the larger of its two counts, in whatever order the copies come; and a second
 * Ctrl-C is a second request, however fast it follows the first.
 */
export class StopRequests {
  private readonly counts = new Map<NodeJS.Signals, Record<SignalRoute, number>>();

  /** Records one delivery of `signal`; returns the number of requests so far, of all signals. */
  add(signal: NodeJS.Signals, route: SignalRoute): number {
    const c = this.counts.get(signal) ?? { direct: 0, relayed: 0 };
    c[route]++;
    this.counts.set(signal, c);
    let requests = 0;
    for (const { direct, relayed } of this.counts.values()) requests += Math.max(direct, relayed);
    return requests;
  }
}

/**
 * The queue a backup run's workers pull volume sets from. In-process by default; the contract is
 * small so that several proxies could later pull from a distributed queue (e.g. BullMQ on Redis):
 * `pull` hands out an item to one worker, `ack`/`fail` settle it.
 */
export interface WorkQueue<T> {
  push(items: T[]): Promise<void>;
  /** the next item, or undefined when the queue is drained */
  pull(): Promise<T | undefined>;
  ack(item: T): Promise<void>;
  fail(item: T, error: unknown): Promise<void>;
}

export class InProcessQueue<T> implements WorkQueue<T> {
  private readonly items: T[] = [];
  readonly done: T[] = [];
  readonly failed: Array<{ item: T; error: unknown }> = [];

  async push(items: T[]): Promise<void> {
    this.items.push(...items);
  }
  async pull(): Promise<T | undefined> {
    return this.items.shift();
  }
  async ack(item: T): Promise<void> {
    this.done.push(item);
  }
  async fail(item: T, error: unknown): Promise<void> {
    this.failed.push({ item, error });
  }
}

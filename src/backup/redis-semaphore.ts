import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Limit } from '../core/concurrency.js';
import { HvsnapError, throwIfAborted } from '../core/errors.js';

/**
 * A counting semaphore shared by every worker through Redis: the holders of `name` are a sorted set
 * of tokens scored by when their hold expires. Taking a slot is one Lua script (drop expired holders,
 * count, add), so two workers never both take the last slot. A holder renews its expiry while it
 * works; a worker that dies (SIGKILL, host lost) stops renewing, and its slots free themselves after
 * `ttlMs`. BullMQ's own groups would limit per key but are a BullMQ Pro feature, and its rate
 * limiter counts jobs per time, not operations in flight: hence this.
 *
 * The script reads Redis's clock (TIME), so the workers' clocks need not agree.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
local n = redis.call('ZCARD', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return 1`;

const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1`;

export interface RedisSemaphoreOptions {
  /** slots */
  limit: number;
  /** ms a hold lasts without renewal */
  ttlMs: number;
  /** ms between polls while waiting for a slot; default 25 */
  pollMs?: number;
  signal?: AbortSignal;
}

export class RedisSemaphore {
  private readonly held = new Set<string>();
  private readonly key: string;
  private readonly peakKey: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    /** e.g. `hvsnap:<queue>:slots:host:<name>` */
    readonly name: string,
    private readonly options: RedisSemaphoreOptions,
  ) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`a concurrency limit must be a whole number ≥ 1, got ${options.limit}`);
    this.key = name;
    this.peakKey = `${name}:peak`;
  }

  /** Runs `fn` holding one slot; waits (polling) for a slot first. */
  async use<T>(fn: () => Promise<T>): Promise<T> {
    const token = `${process.pid}:${randomBytes(6).toString('hex')}`;
    let delay = this.options.pollMs ?? 25;
    while (!(await this.redis.eval(ACQUIRE, 2, this.key, this.peakKey, this.options.limit, this.options.ttlMs, token))) {
      throwIfAborted(this.options.signal);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 250);
    }
    this.held.add(token);
    this.startRenewing();
    try {
      return await fn();
    } finally {
      this.held.delete(token);
      if (this.held.size === 0) this.stopRenewing();
      await this.redis.zrem(this.key, token).catch(() => undefined); // an unreachable Redis lets the hold expire by itself
    }
  }

  /** This semaphore as a {@link Limit} (what the limiters and the runner take); `peak` is this process's own. */
  asLimit(): Limit {
    let now = 0;
    let peak = 0;
    const run = <T>(fn: () => Promise<T>): Promise<T> =>
      this.use(async () => {
        peak = Math.max(peak, ++now);
        try {
          return await fn();
        } finally {
          now--;
        }
      });
    return Object.defineProperties(run, { concurrency: { value: this.options.limit }, peak: { get: () => peak } }) as Limit;
  }

  /** The most holders this semaphore ever had at once, across every worker. */
  async peak(): Promise<number> {
    return Number((await this.redis.get(this.peakKey)) ?? 0);
  }

  private startRenewing(): void {
    if (this.timer) return;
    this.timer = setInterval(
      () => {
        if (this.held.size) void this.redis.eval(RENEW, 1, this.key, this.options.ttlMs, ...this.held).catch(() => undefined);
      },
      Math.max(200, Math.floor(this.options.ttlMs / 3)),
    );
    this.timer.unref();
  }

  private stopRenewing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Checks a semaphore name is one of ours, so a typo cannot reach another application's keys. */
export function slotKey(queue: string, kind: 'host' | 'array' | 'proxy' | 'sets', name: string): string {
  if (!/^[\w.-]+$/.test(queue)) throw new HvsnapError('input_invalid', `queue name "${queue}" is not valid`, { context: { field: 'queue.name' } });
  return `hvsnap:${queue}:slots:${kind}:${name.toLowerCase()}`;
}

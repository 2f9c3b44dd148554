import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { HvsnapError, toHvsnapError } from '../core/errors.js';
import type { BullmqQueueConfig } from './queue-config.js';

export type { BullmqQueueConfig } from './queue-config.js';

/** ioredis options for BullMQ (`maxRetriesPerRequest: null`, as its workers need) with auth and TLS. */
export function redisOptions(config: BullmqQueueConfig): RedisOptions {
  const tls =
    config.url.startsWith('rediss://') || config.tls
      ? { ca: config.tls?.ca ? readFileSync(config.tls.ca) : undefined, servername: config.tls?.servername, rejectUnauthorized: !config.tls?.insecure }
      : undefined;
  return { username: config.username, password: config.password, tls, maxRetriesPerRequest: null, lazyConnect: false };
}

/** A new connection (each BullMQ Worker and QueueEvents needs its own blocking one). */
export function connectRedis(config: BullmqQueueConfig): Redis {
  const client = new Redis(config.url, redisOptions(config));
  // a lost connection is retried by the client and surfaces in the commands that need it (and in the
  // worker's 'error' event); without a listener ioredis would print every reconnect attempt
  client.on('error', () => undefined);
  return client;
}

/** The URL without anything secret, for messages. */
export function redisWhere(config: BullmqQueueConfig): string {
  return config.url.replace(/\/\/[^@/]*@/, '//');
}

/**
 * Fails fast, with `transport_failed` naming the server, when Redis cannot be reached or refuses
 * the credentials: a coordinator must not start a batch it cannot hand out, nor a worker wait forever.
 */
export async function checkRedis(config: BullmqQueueConfig, timeoutMs = 5000): Promise<void> {
  const probe = new Redis(config.url, {
    ...redisOptions(config),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  probe.on('error', () => undefined); // reported by the connect below
  try {
    await probe.connect();
    const info = await probe.info('server');
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new HvsnapError('unsupported', `Redis at ${redisWhere(config)} is version ${version[1]}.${version[2]}; BullMQ needs 6.2 or later`, {
        context: { host: redisWhere(config) },
      });
    }
  } catch (e) {
    if (e instanceof HvsnapError) throw e;
    const err = toHvsnapError(e);
    throw new HvsnapError(
      'transport_failed',
      `Redis at ${redisWhere(config)} is not reachable: ${err.message.replace(config.password ?? '\u0000', '[redacted]')}`,
      {
        retryable: true,
        context: { host: redisWhere(config), field: 'queue.url' },
        hint: 'start Redis (or fix queue.url / queue.password) and run the command again; nothing was started',
      },
    );
  } finally {
    probe.disconnect();
  }
}

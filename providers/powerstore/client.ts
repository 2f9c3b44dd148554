import type { Logger } from '../../src/core/logger.js';
import { sessionCookieAuth } from '../sdk/auth.js';
import { tolerating } from '../sdk/errors.js';
import { HttpClient, type HttpClientOptions, type HttpRequest } from '../sdk/http-client.js';
import { powerstoreError } from './errors.js';

/** PowerStore objects this driver reads (the fields it selects). */
export interface PsVolume {
  id: string;
  name: string;
  wwn?: string;
  size?: number;
  description?: string | null;
  creation_timestamp?: string;
  protection_data?: { source_id?: string | null };
  volume_groups?: Array<{ id: string; name?: string }>;
}
export interface PsVolumeGroup {
  id: string;
  name: string;
  description?: string | null;
  type?: string;
  creation_timestamp?: string;
  protection_data?: { source_id?: string | null };
  volumes?: Array<{ id: string; protection_data?: { source_id?: string | null } }>;
}
export interface PsHost {
  id: string;
  name: string;
  initiators?: Array<{ port_name?: string; port_type?: string }>;
}
export interface PsMapping {
  host_id?: string;
  volume_id?: string;
  logical_unit_number?: number;
}

type Query = Record<string, string | number | boolean | undefined>;

/** Page size asked for; python-powerstore starts at 100 and grows to 2000. */
export const PAGE = 1000;

/**
 * PowerStore REST (`/api/rest`), the calls this driver needs: a session from `GET /login_session`
 * (Basic) carried as the `DELL-EMC-TOKEN` header and the `auth_cookie` cookie, renewed on 401 and
 * before the idle timeout; PostgREST-like queries (`select=`, `field=eq.value`); collections paged
 * with `limit`/`offset`, a partial page answered 206 with `Content-Range: first-last/total`.
 */
export class PowerstoreClient {
  readonly http: HttpClient;

  constructor(
    args: { endpoint: string; username: string; password: string; logger: Logger; pageSize?: number } & Pick<
      HttpClientOptions,
      'tls' | 'timeoutMs' | 'retry' | 'sleep'
    >,
  ) {
    this.pageSize = args.pageSize ?? PAGE;
    this.http = new HttpClient({
      provider: 'powerstore',
      baseUrl: `${args.endpoint.replace(/\/+$/, '')}/api/rest`,
      logger: args.logger,
      auth: sessionCookieAuth({
        loginPath: '/login_session',
        loginQuery: { select: 'id,user,role_ids,idle_timeout' },
        username: args.username,
        password: args.password,
        tokenHeader: 'DELL-EMC-TOKEN',
        cookieName: 'auth_cookie',
        idleTimeoutSeconds: (body) => (Array.isArray(body) ? (body[0] as { idle_timeout?: number })?.idle_timeout : undefined),
        logoutPath: '/logout',
        provider: 'powerstore',
      }),
      mapError: powerstoreError,
      tls: args.tls,
      timeoutMs: args.timeoutMs,
      retry: args.retry,
      sleep: args.sleep,
    });
  }

  private readonly pageSize: number;

  /** Every row of a collection: pages while the answer is 206 and `Content-Range` says more remain. */
  async list<T>(path: string, query: Query, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    for (let offset = 0; ;) {
      const res = await this.http.request<T[]>({ method: 'GET', path, query: { ...query, limit: this.pageSize, offset }, signal });
      const rows = Array.isArray(res.data) ? res.data : [];
      out.push(...rows);
      const range = /^(\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
      if (res.status !== 206 || !range || rows.length === 0) return out;
      offset = Number(range[2]) + 1;
      if (range[3] !== '*' && offset >= Number(range[3])) return out;
    }
  }

  /** One object by id, or undefined on 404. */
  async get<T>(path: string, query: Query, signal?: AbortSignal): Promise<T | undefined> {
    return tolerating(
      'not_found',
      this.http.request<T>({ method: 'GET', path, query, signal }).then((r) => r.data),
    );
  }

  async write<T = unknown>(req: HttpRequest): Promise<T> {
    return (await this.http.request<T>(req)).data;
  }

  /** A write whose `tolerate` answer means the goal is reached (e.g. detach of an unmapped volume). */
  async writeTolerating<T = unknown>(tolerate: 'already_exists' | 'not_found', req: HttpRequest): Promise<T | undefined> {
    return tolerating(tolerate, this.write<T>(req));
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

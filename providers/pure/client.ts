import type { Logger } from '../../src/core/logger.js';
import { tokenLoginAuth } from '../sdk/auth.js';
import { tolerating } from '../sdk/errors.js';
import { HttpClient, type HttpClientOptions, type HttpRequest } from '../sdk/http-client.js';
import { pureError } from './errors.js';

/** The Pure objects this driver reads (REST 2.x models, the fields we use). */
export interface PureVolume {
  id?: string;
  name: string;
  pod?: { name?: string } | null;
  serial: string;
  provisioned?: number;
  created?: number;
  destroyed?: boolean;
  source?: { name?: string; id?: string } | null;
}
export interface PureVolumeSnapshot {
  id?: string;
  name: string;
  suffix?: string;
  serial?: string;
  created?: number;
  destroyed?: boolean;
  source?: { name?: string; id?: string };
}
export interface PurePgroupSnapshot {
  id?: string;
  name: string;
  suffix?: string;
  created?: number;
  destroyed?: boolean;
  source?: { name?: string };
}
export interface PureHost {
  name: string;
  iqns?: string[];
  wwns?: string[];
  nqns?: string[];
}
export interface PureConnection {
  host?: { name?: string };
  volume?: { name?: string };
  lun?: number;
}
export interface PureArray {
  id?: string;
  name?: string;
  os?: string;
  version?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

/** Items asked for per page (the array answers at most its own maximum). */
export const PAGE_LIMIT = 500;

/**
 * Pure FlashArray REST 2.x, the calls this driver needs. Objects are addressed by `names` query
 * parameters; lists page with `continuation_token`. Login: `POST /login` with header `api-token`,
 * session in `x-auth-token`, renewed on 401. Name-addressed creates are marked idempotent: a repeat
 * answers "already exists", which the provider treats as success.
 */
export class PureClient {
  readonly http: HttpClient;

  constructor(
    args: { endpoint: string; apiVersion: string; apiToken: string; logger: Logger } & Pick<HttpClientOptions, 'tls' | 'timeoutMs' | 'retry' | 'sleep'>,
  ) {
    this.http = new HttpClient({
      provider: 'pure',
      baseUrl: `${args.endpoint.replace(/\/+$/, '')}/api/${args.apiVersion}`,
      logger: args.logger,
      auth: tokenLoginAuth({
        loginPath: '/login',
        credentialHeaders: { 'api-token': args.apiToken },
        tokenHeader: 'x-auth-token',
        logoutPath: '/logout',
        provider: 'pure',
      }),
      mapError: pureError,
      // Pure's SDK repeats >500 and 429; a 500 is an answer
      retry: { statuses: [429, 502, 503, 504], ...args.retry },
      tls: args.tls,
      timeoutMs: args.timeoutMs,
      sleep: args.sleep,
    });
  }

  /**
   * Every item of a list, following `continuation_token` — which the array gives only when `limit` is
   * sent ("Pagination requires the `limit` and `continuation_token` query parameters",
   * pure-flasharray-2.56.yaml `components.parameters.Continuation_token`).
   */
  async list<T>(path: string, query: Query, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let token: string | undefined;
    do {
      const res = await this.http.request<{ items?: T[]; continuation_token?: string | null }>({
        method: 'GET',
        path,
        query: { ...query, limit: PAGE_LIMIT, continuation_token: token },
        signal,
      });
      out.push(...(res.data.items ?? []));
      token = res.data.continuation_token ?? undefined;
    } while (token);
    return out;
  }

  /** A write; returns `items`. */
  async write<T>(req: HttpRequest): Promise<T[]> {
    const res = await this.http.request<{ items?: T[] }>(req);
    return res.data?.items ?? [];
  }

  /** A write whose "already exists" / "does not exist" answer means the goal is reached. */
  async writeTolerating<T>(tolerate: 'already_exists' | 'not_found', req: HttpRequest): Promise<T[] | undefined> {
    return tolerating(tolerate, this.write<T>(req));
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

import type { Logger } from '../../src/core/logger.js';
import { basicAuth } from '../sdk/auth.js';
import { providerError, providerErrorKind } from '../sdk/errors.js';
import { HttpClient, longPollTimeoutMs, type HttpClientOptions, type HttpRequest } from '../sdk/http-client.js';
import { pollJob } from '../sdk/poll-job.js';
import { fromCode, ontapError } from './errors.js';

/** ONTAP records this driver reads (the fields it asks for). */
export interface OntapLun {
  uuid: string;
  name: string;
  serial_number?: string;
  location?: { logical_unit?: string; volume?: { name?: string; uuid?: string } };
  space?: { size?: number };
}
export interface OntapVolume {
  uuid: string;
  name: string;
  clone?: { is_flexclone?: boolean; parent_volume?: { name?: string; uuid?: string }; parent_snapshot?: { name?: string; uuid?: string } };
}
export interface OntapSnapshot {
  uuid: string;
  name: string;
  create_time?: string;
  comment?: string;
}
/** The job fields ONTAP defines (ontap-9.7.yaml `definitions.job`: uuid, state, message, code, description, …; there is no `error`). */
export interface OntapJob {
  uuid: string;
  state: string;
  message?: string;
  code?: number;
  description?: string;
}

type Query = Record<string, string | number | boolean | undefined>;

/**
 * ONTAP REST (`/api`), the calls this driver needs: HTTP Basic on every call; collections
 * `{records, num_records, _links.next.href}` paged with `max_records`; writes that may answer 202
 * with a job, waited for with `return_timeout` and then by polling `/cluster/jobs/{uuid}`.
 */
export class OntapClient {
  readonly http: HttpClient;

  constructor(
    private readonly args: {
      endpoint: string;
      username: string;
      password: string;
      svm: string;
      logger: Logger;
      /** seconds ONTAP may hold a write before answering 202 (0–120) */
      returnTimeoutS: number;
      /** ms to wait for a job after that */
      jobTimeoutMs: number;
      /** first job poll interval, ms */
      jobPollMs: number;
    } & Pick<HttpClientOptions, 'tls' | 'timeoutMs' | 'retry' | 'sleep'>,
  ) {
    this.http = new HttpClient({
      provider: 'ontap',
      baseUrl: `${args.endpoint.replace(/\/+$/, '')}/api`,
      logger: args.logger,
      auth: basicAuth({ username: args.username, password: args.password }),
      mapError: ontapError,
      headers: { 'content-type': 'application/json' },
      tls: args.tls,
      timeoutMs: args.timeoutMs,
      retry: args.retry,
      sleep: args.sleep,
    });
  }

  get svm(): string {
    return this.args.svm;
  }

  /** Every record of a collection, following `_links.next.href`. */
  async list<T>(path: string, query: Query, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let next: { path: string; query: Query } | undefined = { path, query: { max_records: 100, ...query } };
    while (next) {
      const res: { data: { records?: T[]; _links?: { next?: { href?: string } } } } = await this.http.request({
        method: 'GET',
        path: next.path,
        query: next.query,
        signal,
      });
      out.push(...(res.data.records ?? []));
      const href = res.data._links?.next?.href;
      next = href ? splitHref(href) : undefined;
    }
    return out;
  }

  /** One record, or undefined on 404 / code 4. */
  async get<T>(path: string, query: Query, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return (await this.http.request<T>({ method: 'GET', path, query, signal })).data;
    } catch (e) {
      if (providerErrorKind(e) === 'not_found') return undefined;
      throw e;
    }
  }

  /**
   * A write that may run as a job: sends `return_timeout` when `async` is set (ONTAP then holds the
   * request up to that long and answers the final status, or 202 with a job), waits on the client
   * side longer than that hold, and polls a 202's job to the end. A POST or PATCH is never re-sent:
   * after a client timeout its first job may still be running (array-apis.md §2.2–2.3), so a repeat
   * could make a second object or fail on the first. A failed job throws its ONTAP code mapped to a
   * portable kind.
   */
  async write<T = unknown>(req: HttpRequest & { async?: boolean }, what: string): Promise<T> {
    const query = req.async ? { ...req.query, return_timeout: this.args.returnTimeoutS } : req.query;
    const timeoutMs = req.async ? longPollTimeoutMs(this.args.returnTimeoutS, this.args.timeoutMs ?? 30_000) : req.timeoutMs;
    const res = await this.http.request<{ job?: { uuid?: string } } & T>({
      ...req,
      query,
      timeoutMs,
      resendWithoutAnswer: req.method === 'DELETE' || req.method === 'GET',
    });
    const uuid = res.data?.job?.uuid;
    if (res.status === 202 && uuid) {
      const { job, state } = await pollJob<OntapJob>({
        describe: `ONTAP job ${uuid} (${what})`,
        fetch: (signal) =>
          this.http
            .request<OntapJob>({ method: 'GET', path: `/cluster/jobs/${uuid}`, query: { fields: 'uuid,state,message,code,description' }, signal })
            .then((r) => r.data),
        state: (j) => (j.state === 'success' ? 'success' : j.state === 'failure' ? 'failure' : 'running'),
        timeoutMs: this.args.jobTimeoutMs,
        intervalMs: this.args.jobPollMs,
        signal: req.signal,
        sleep: this.args.sleep,
      });
      if (state === 'failure') {
        const v = fromCode(job.code, job.message);
        throw providerError(v.kind ?? 'invalid', `ontap: ${what} failed in job ${uuid}: ${v.message ?? 'no message'}`, {
          provider: 'ontap',
          context: { vendorCode: v.vendorCode, job: uuid },
        });
      }
    }
    return res.data as T;
  }

  /** A write whose `kind` answer means the goal is already reached. */
  async writeTolerating<T = unknown>(tolerate: 'already_exists' | 'not_found', req: HttpRequest & { async?: boolean }, what: string): Promise<T | undefined> {
    try {
      return await this.write<T>(req, what);
    } catch (e) {
      if (providerErrorKind(e) === tolerate) return undefined;
      throw e;
    }
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** `/api/storage/luns?start.uuid=x&max_records=100` → path below `/api` and its query. */
function splitHref(href: string): { path: string; query: Query } {
  const url = new URL(href, 'https://x');
  return { path: url.pathname.replace(/^\/api(?=\/)/, ''), query: Object.fromEntries(url.searchParams) };
}

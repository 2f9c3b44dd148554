import https from 'node:https';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import axios, { type AxiosInstance } from 'axios';
import pRetry from 'p-retry';
import { HvsnapError, isHvsnapError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import type { AuthStrategy, RawRequest, RawResponse, RawSend } from './auth.js';
import { providerError, type ProviderErrorKind } from './errors.js';
import { redactingLogger } from './redact.js';
import { retryAfterMs, sleep as realSleep } from './retry-delay.js';

/** TLS settings. Verification is on unless `insecure` is set explicitly (which logs a warning). */
export interface TlsOptions {
  /** PEM text of the CA(s) that signed the array's certificate */
  ca?: string;
  /** path of a PEM file of CA(s); read once when the client is made */
  caFile?: string;
  /** turn certificate verification off; for labs only */
  insecure?: boolean;
}

export interface RetryOptions {
  /** repeats after the first attempt (default 4) */
  retries?: number;
  /** first backoff delay in ms, doubled per attempt with jitter ×1–2 (default 500) */
  minDelayMs?: number;
  /** largest backoff delay in ms (default 10 000) */
  maxDelayMs?: number;
  /** largest wait in ms a Retry-After / X-RateLimit header may impose (default 60 000) */
  maxRetryAfterMs?: number;
  /** statuses worth repeating (default 408, 429, 502, 503, 504); 429 is repeated for any method */
  statuses?: number[];
}

/** What a driver says about a failed response: its portable kind and the vendor's own words. */
export interface VendorError {
  kind?: ProviderErrorKind;
  message?: string;
  /** the vendor's error code, e.g. ONTAP `5374922`, PowerStore `0xE0A07001000C` */
  vendorCode?: string;
}

export interface HttpClientOptions {
  /** provider name, for error context and logs */
  provider: string;
  /** e.g. `https://array.example/api/2.26` */
  baseUrl: string;
  logger: Logger;
  auth?: AuthStrategy;
  tls?: TlsOptions;
  /** per attempt, ms (default 30 000) */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** reads the vendor error body; the status decides the kind when it returns none */
  mapError?: (res: RawResponse) => VendorError;
  /** header carrying a fresh UUID per logical request (default `X-Request-ID`); the same id on retries */
  requestIdHeader?: string;
  /** headers sent on every request */
  headers?: Record<string, string>;
  /** for tests: how to wait between attempts */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface HttpRequest extends RawRequest {
  /** may be repeated after a timeout or a 5xx; default true for GET, PUT and DELETE, false otherwise */
  idempotent?: boolean;
  /**
   * this request's own timeout per attempt, ms (default the client's): a long-poll write (ONTAP
   * `return_timeout`) must wait longer than the server may hold it — see {@link longPollTimeoutMs}
   */
  timeoutMs?: number;
  /**
   * may be sent again after it got no answer (a timeout, a reset connection); default `idempotent`.
   * False for a write whose first attempt may still be running on the array (a job): an answered
   * 5xx/429 may still be repeated when `idempotent` says so.
   */
  resendWithoutAnswer?: boolean;
}

/**
 * The client-side timeout for a request the server may hold for `serverHoldS` seconds (ONTAP
 * `return_timeout`, array-apis.md §2.2): the hold plus a margin, never less than `baseMs`. A shorter
 * client timeout would give up on a write whose job is still running and tempt a re-send.
 */
export function longPollTimeoutMs(serverHoldS: number, baseMs: number, marginMs = 10_000): number {
  return Math.max(baseMs, serverHoldS * 1000 + marginMs);
}

export interface HttpResponse<T = unknown> extends RawResponse {
  data: T;
  requestId: string;
}

const SAFE = new Set(['GET', 'PUT', 'DELETE']);
const RETRY_STATUSES = [408, 429, 502, 503, 504];
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/;

/** Default portable kind of an HTTP status. */
export function kindOfStatus(status: number): ProviderErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 409) return 'already_exists';
  if (status === 429) return 'rate_limited';
  if (status >= 500 || status === 408) return 'transient';
  return 'invalid';
}

/**
 * An HTTP client for array REST APIs, on axios: TLS verification on, auth with refresh on 401,
 * p-retry with exponential backoff and jitter that honours Retry-After and X-RateLimit headers,
 * repeating only retryable statuses and only requests that are safe to repeat; a request id per
 * call; debug logs with secrets redacted; every failure an HvsnapError (`provider_error` with a
 * portable kind, or `timeout`, or `aborted`) with no secret and no axios object inside.
 */
export class HttpClient {
  readonly options: HttpClientOptions;
  private readonly axios: AxiosInstance;
  private readonly agent: https.Agent;
  private readonly log: Logger;
  private readonly rawSend: RawSend;

  constructor(options: HttpClientOptions) {
    this.options = options;
    const tls = options.tls ?? {};
    let ca = tls.ca;
    if (tls.caFile) {
      try {
        ca = readFileSync(tls.caFile, 'utf8');
      } catch (e) {
        throw new HvsnapError('config_invalid', `provider ${options.provider}: cannot read CA file ${tls.caFile}: ${(e as Error).message}`, {
          context: { field: 'caFile', file: tls.caFile, provider: options.provider },
        });
      }
    }
    this.log = redactingLogger(options.logger.child({ provider: options.provider }), () => this.secrets());
    if (tls.insecure)
      this.log.warn({ baseUrl: options.baseUrl }, 'TLS certificate verification is OFF (insecure: true); anyone on the path can read the array credentials');
    this.agent = new https.Agent({ keepAlive: true, rejectUnauthorized: !tls.insecure, ...(ca ? { ca } : {}) });
    this.axios = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs ?? 30_000,
      httpsAgent: this.agent,
      maxRedirects: 0,
      validateStatus: () => true,
      headers: { accept: 'application/json', ...options.headers },
    });
    this.rawSend = (req) => this.send(req, {}, randomUUID(), 1);
  }

  /** Secrets the client holds now (credentials and session tokens). */
  secrets(): string[] {
    return this.options.auth?.secrets() ?? [];
  }

  /** Sends a request, authenticating, retrying and mapping errors as described on the class. */
  async request<T = unknown>(req: HttpRequest): Promise<HttpResponse<T>> {
    const requestId = randomUUID();
    const safe = req.idempotent ?? SAFE.has(req.method);
    const retry = this.options.retry ?? {};
    const statuses = new Set(retry.statuses ?? RETRY_STATUSES);
    const decisions = new WeakMap<object, { retry: boolean; waitMs?: number }>();
    const waitFor = this.options.sleep ?? realSleep;
    let reauthed = false;
    let attempt = 0;
    const auth = this.options.auth;
    const run = async (): Promise<HttpResponse<T>> => {
      attempt += 1;
      let res: RawResponse;
      try {
        res = await this.send(req, auth ? await auth.headers(this.rawSend, req.signal) : {}, requestId, attempt);
        if (res.status === 401 && auth && !reauthed && auth.invalidate()) {
          reauthed = true;
          this.log.debug({ requestId, path: req.path }, 'HTTP 401: session expired, logging in again');
          res = await this.send(req, await auth.headers(this.rawSend, req.signal), requestId, attempt);
        }
      } catch (e) {
        const err = this.transportError(e, req, requestId);
        const code = (e as { code?: string }).code ?? '';
        // never repeat: an abort, an untrusted certificate, a failed login; otherwise only what is safe or was never sent
        const final = err.code === 'aborted' || err.context.kind === 'auth' || (isHvsnapError(e) && e.code === 'provider_error');
        decisions.set(err, { retry: !final && ((safe && req.resendWithoutAnswer !== false) || NEVER_SENT.has(code)) });
        throw err;
      }
      if (res.status < 300) return { ...res, data: res.data as T, requestId };
      const err = this.httpError(res, req, requestId);
      const repeatable = statuses.has(res.status) && (safe || res.status === 429);
      decisions.set(err, { retry: repeatable, waitMs: repeatable ? retryAfterMs(res.headers) : undefined });
      throw err;
    };
    return pRetry(run, {
      retries: retry.retries ?? 4,
      minTimeout: retry.minDelayMs ?? 500,
      maxTimeout: retry.maxDelayMs ?? 10_000,
      factor: 2,
      randomize: true,
      signal: req.signal,
      shouldRetry: ({ error }) => decisions.get(error)?.retry === true,
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        const d = decisions.get(error);
        if (!d?.retry || retriesLeft === 0) return;
        const waitMs = d.waitMs === undefined ? undefined : Math.min(d.waitMs, retry.maxRetryAfterMs ?? 60_000);
        this.log.debug({ requestId, attempt: attemptNumber, retriesLeft, waitMs, error: error.message }, 'request failed; retrying');
        if (waitMs) await waitFor(waitMs, req.signal);
      },
    }).catch((e: unknown) => {
      if (isHvsnapError(e)) throw e;
      throw this.transportError(e, req, requestId);
    });
  }

  /** Ends the session (if the auth strategy has one) and frees sockets. Idempotent. */
  async close(): Promise<void> {
    await this.options.auth?.logout?.(this.rawSend).catch(() => undefined);
    this.agent.destroy();
  }

  private async send(req: HttpRequest, authHeaders: Record<string, string>, requestId: string, attempt: number): Promise<RawResponse> {
    const headers = { ...authHeaders, ...req.headers, [this.options.requestIdHeader ?? 'X-Request-ID']: requestId };
    const started = performance.now();
    this.log.debug({ requestId, attempt, method: req.method, path: req.path, query: req.query, headers, body: req.body }, 'http request');
    const res = await this.axios.request({
      method: req.method,
      url: req.path + queryString(req.query),
      headers,
      data: req.body,
      signal: req.signal,
      ...(req.timeoutMs ? { timeout: req.timeoutMs } : {}),
    });
    const out: RawResponse = { status: res.status, headers: plainHeaders(res.headers), data: res.data };
    this.log.debug({ requestId, status: res.status, durationMs: Math.round(performance.now() - started) }, 'http response');
    return out;
  }

  private httpError(res: RawResponse, req: RawRequest, requestId: string): HvsnapError {
    let vendor: VendorError = {};
    try {
      vendor = this.options.mapError?.(res) ?? {};
    } catch {
      /* a bad body is reported by status alone */
    }
    const kind = vendor.kind ?? kindOfStatus(res.status);
    const what = vendor.message ? `: ${vendor.message}` : '';
    const err = providerError(kind, `${this.options.provider}: ${req.method} ${req.path} returned HTTP ${res.status}${what}`, {
      provider: this.options.provider,
      context: { status: res.status, method: req.method, path: req.path, requestId, vendorCode: vendor.vendorCode },
    });
    return scrub(err, this.secrets());
  }

  private transportError(e: unknown, req: RawRequest, requestId: string): HvsnapError {
    if (isHvsnapError(e)) return e;
    const code = (e as { code?: string }).code;
    const context = { provider: this.options.provider, method: req.method, path: req.path, requestId };
    if (axios.isCancel(e) || (e as Error)?.name === 'AbortError' || code === 'ERR_CANCELED') {
      return new HvsnapError('aborted', `${this.options.provider}: ${req.method} ${req.path} was aborted`, { context });
    }
    if (code === 'ECONNABORTED' || code === 'ETIMEDOUT') {
      const ms = (req as HttpRequest).timeoutMs ?? this.options.timeoutMs ?? 30_000;
      return new HvsnapError('timeout', `${this.options.provider}: ${req.method} ${req.path} got no answer within ${ms} ms`, {
        retryable: true,
        context: { ...context, timeoutMs: ms },
      });
    }
    if (typeof code === 'string' && TLS_TRUST.test(code)) {
      // not retryable: the certificate will not change between attempts
      return new HvsnapError('provider_error', `${this.options.provider}: TLS certificate of ${this.options.baseUrl} is not trusted (${code})`, {
        context: { ...context, kind: 'auth', errno: code },
        hint: 'give the CA that signed the array certificate (caFile or ca); insecure: true turns verification off, for labs only',
      });
    }
    // the axios error holds the request headers (credentials): keep only its code and message
    const message = scrubText((e as Error)?.message ?? String(e), this.secrets());
    const cause = new Error(message);
    return providerError('transient', `${this.options.provider}: ${req.method} ${req.path} failed: ${code ?? message}`, {
      provider: this.options.provider,
      context: { ...context, errno: code },
      cause,
    });
  }
}

function scrubText(s: string, secrets: string[]): string {
  return secrets.reduce((acc, x) => (x.length >= 4 ? acc.split(x).join('[REDACTED]') : acc), s);
}

function scrub(e: HvsnapError, secrets: string[]): HvsnapError {
  const clean = scrubText(e.message, secrets);
  if (clean === e.message) return e;
  return new HvsnapError(e.code, clean, { retryable: e.retryable, context: e.context });
}

/** `?a=1&b=x` from a query object; undefined values are left out. */
export function queryString(query: RawRequest['query']): string {
  if (!query) return '';
  const entries = Object.entries(query)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]): [string, string] => [k, String(v)]);
  return entries.length ? '?' + new URLSearchParams(entries).toString() : '';
}

function plainHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const src = (h && typeof (h as { toJSON?: unknown }).toJSON === 'function' ? (h as { toJSON(): object }).toJSON() : h) as Record<string, unknown>;
  for (const [k, v] of Object.entries(src ?? {})) {
    if (v === undefined || v === null) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join('\n') : String(v);
  }
  return out;
}

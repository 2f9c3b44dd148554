import nock from 'nock';

/** One request as the fake array saw it: what the OpenAPI test checks. */
export interface FakeRequest {
  method: string;
  /** path below the origin, without the query, decoded */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: any;
  /** what the fake answered (filled in when it answers; the OpenAPI check validates it too) */
  reply?: FakeReply;
}

export interface FakeReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string | string[]>;
  /** answer only after this many ms (for timeout tests) */
  delayMs?: number;
}

export interface Injection {
  method?: string;
  /** matches the path (below the origin) */
  path: RegExp;
  /** how many requests it answers (default 1) */
  times?: number;
  reply: FakeReply | ((req: FakeRequest) => FakeReply);
}

/**
 * A stateful fake array on nock: every request to `origin` goes to `handler`, is recorded in
 * `requests`, and may be pre-empted by one-shot injections (429, 5xx, 401, delays).
 */
export class FakeHttp {
  readonly requests: FakeRequest[] = [];
  private injections: Injection[] = [];
  private scope: nock.Scope;
  private interceptors: nock.Interceptor[] = [];

  constructor(
    readonly origin: string,
    handler: (req: FakeRequest) => FakeReply,
  ) {
    this.scope = nock(origin).persist();
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
      const interceptor = this.scope.intercept(/.*/, method).query(true);
      this.interceptors.push(interceptor);
      interceptor.reply(function (uri, body, cb) {
        const url = new URL(uri, origin);
        const headers = Object.fromEntries(Object.entries(this.req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(', ') : String(v)]));
        let parsed: unknown = body;
        if (typeof body === 'string' && body.length) {
          try {
            parsed = JSON.parse(body);
          } catch {
            parsed = body;
          }
        }
        if (body === '') parsed = undefined;
        const req: FakeRequest = { method, path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), headers, body: parsed };
        fake.requests.push(req);
        const inj = fake.injections.find((i) => (!i.method || i.method === method) && i.path.test(req.path));
        let reply: FakeReply;
        if (inj) {
          inj.times = (inj.times ?? 1) - 1;
          if (inj.times <= 0) fake.injections = fake.injections.filter((x) => x !== inj);
          reply = typeof inj.reply === 'function' ? inj.reply(req) : inj.reply;
        } else {
          try {
            reply = handler(req);
          } catch (e) {
            reply = { status: 500, body: { message: String(e) } };
          }
        }
        req.reply = reply;
        const answer = () =>
          cb(null, [reply.status, reply.body === undefined ? '' : JSON.stringify(reply.body), { 'content-type': 'application/json', ...reply.headers }]);
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fake = this;
  }

  /** Answers the next matching request(s) with `reply` instead of the handler. */
  inject(i: Injection): void {
    this.injections.push(i);
  }

  /** Requests of a method and path pattern seen so far. */
  seen(method: string, path: RegExp): FakeRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /** Removes this fake's interceptors only (other fakes keep answering). */
  close(): void {
    this.scope.persist(false);
    for (const i of this.interceptors) nock.removeInterceptor(i);
    this.interceptors = [];
  }
}

/** Parses the tiny filter language the fakes understand: `field='value'` with `*` as wildcard. */
export function filterMatcher(filter: string | undefined): (o: Record<string, any>) => boolean {
  if (!filter) return () => true;
  const m = /^([\w.]+)=['"]?([^'"]*)['"]?$/.exec(filter.trim());
  if (!m) throw new Error(`fake: unsupported filter ${filter}`);
  const [, field, value] = m;
  const re = new RegExp(
    '^' +
      value!
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return (o) => {
    const v = o[field!];
    return Array.isArray(v) ? v.some((x) => re.test(String(x))) : v !== undefined && re.test(String(v));
  };
}

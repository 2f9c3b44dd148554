import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { FakeRequest } from './fake-http.js';
import { sharedPath, type Needs } from '../helpers/requirements.js';

type Json = any;

/** The vendors' definitions: not redistributable, so read from the shared folder (`../shared` or HVSNAP_SHARED). */
export const OPENAPI_FILES = ['pure-flasharray-2.56.yaml', 'ontap-9.7.yaml', 'powerstore-4.1.0.0.json'];

/** What the OpenAPI tests need, for `describeWith`. */
export const openapiNeeds: Needs = { shared: OPENAPI_FILES.map((f) => `reference/openapi/${f}`) };

/** `reference/openapi/` in the shared folder (CI has shared/ beside the clone). */
export function openapiDir(): string {
  const dir = sharedPath('reference/openapi');
  if (!existsSync(dir))
    throw new Error(`the vendors' OpenAPI definitions are missing: expected them in ${dir} (shared/reference/openapi beside the repository clone)`);
  return dir;
}

export interface Verdict {
  request: string;
  /** matched path template, or undefined when the definition has no such path */
  template?: string;
  problems: string[];
}

/**
 * A vendor definition loaded for checking recorded requests: the method exists on the matching
 * path template, every query parameter is declared (PowerStore: or is a field of the listed model,
 * its PostgREST filter), required query parameters are present, and every body field exists in the
 * request schema (recursively, with `$ref` and `allOf` resolved, enums checked) and required ones are there.
 */
export class OpenApiSpec {
  private readonly doc: Json;
  private readonly templates: Array<{ template: string; re: RegExp; literal: number }>;

  constructor(
    readonly file: string,
    private readonly opts: { basePath: string; rewrite?: (path: string) => string; modelFilters?: boolean },
  ) {
    const text = readFileSync(join(openapiDir(), file), 'utf8');
    this.doc = file.endsWith('.json') ? JSON.parse(text) : parse(text);
    this.templates = Object.keys(this.doc.paths)
      .filter((p) => p.startsWith('/'))
      .map((template) => ({
        template,
        re: new RegExp(
          '^' +
            template
              .split(/\{[^}]+\}/)
              .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
              .join('[^/]+') +
            '$',
        ),
        literal: template.replace(/\{[^}]+\}/g, '').length,
      }))
      .sort((a, b) => b.literal - a.literal);
  }

  check(req: FakeRequest): Verdict {
    const request = `${req.method} ${req.path}`;
    let path = req.path;
    if (!path.startsWith(this.opts.basePath)) return { request, problems: [`path is not under ${this.opts.basePath}`] };
    path = this.opts.rewrite ? this.opts.rewrite(path) : path.slice(this.opts.basePath.length) || '/';
    const hit = this.templates.find((t) => t.re.test(path));
    if (!hit) return { request, problems: [`no path ${path} in ${this.file}`] };
    const item = this.doc.paths[hit.template];
    const op = item[req.method.toLowerCase()];
    if (!op) return { request, template: hit.template, problems: [`${req.method} is not defined on ${hit.template}`] };
    const problems: string[] = [];
    const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p: Json) => this.deref(p));
    const query = params.filter((p: Json) => p.in === 'query');
    const declared = new Set(query.map((p: Json) => p.name));
    const model = this.opts.modelFilters ? this.listModelFields(op) : undefined;
    for (const key of Object.keys(req.query)) {
      if (declared.has(key)) continue;
      if (model && (['select', 'limit', 'offset', 'order'].includes(key) || model.has(key.split('->>')[0]!))) continue;
      problems.push(`query parameter "${key}" is not declared for ${req.method} ${hit.template}`);
    }
    for (const p of query) if (p.required && req.query[p.name] === undefined) problems.push(`required query parameter "${p.name}" is missing`);
    const bodySchema = this.bodySchema(op, params);
    if (req.body !== undefined && req.body !== '' && !(typeof req.body === 'object' && Object.keys(req.body).length === 0)) {
      if (!bodySchema) problems.push(`a body is sent but ${req.method} ${hit.template} takes none`);
      else this.checkValue(req.body, bodySchema, 'body', problems);
    }
    return { request, template: hit.template, problems };
  }

  private deref(x: Json): Json {
    let cur = x;
    for (let i = 0; cur && cur.$ref && i < 20; i++)
      cur = cur.$ref
        .slice(2)
        .split('/')
        .reduce((o: Json, k: string) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], this.doc);
    return cur;
  }

  /** Properties of a schema with allOf merged, and its required list. */
  private shape(schema: Json): { props: Record<string, Json>; required: string[]; open: boolean } {
    const s = this.deref(schema) ?? {};
    const props: Record<string, Json> = { ...(s.properties ?? {}) };
    const required: string[] = [...(s.required ?? [])];
    let open = !s.properties && !s.allOf && s.type !== 'object' ? true : s.additionalProperties !== undefined && s.additionalProperties !== false;
    for (const part of s.allOf ?? []) {
      const sub = this.shape(part);
      Object.assign(props, sub.props);
      required.push(...sub.required);
      open = open && sub.open;
    }
    return { props, required, open };
  }

  /**
   * The fake's answer against the definition's response schema for that status (or `default`):
   * every field it returns is a field of the schema, recursively, with enums and types checked.
   * Undefined statuses are reported. Empty bodies (204, `{}` on a delete) pass.
   */
  checkResponse(req: FakeRequest): Verdict {
    const request = `${req.method} ${req.path} → ${req.reply?.status ?? '?'}`;
    const reply = req.reply;
    if (!reply) return { request, problems: ['no reply recorded'] };
    let path = req.path;
    if (!path.startsWith(this.opts.basePath)) return { request, problems: [] };
    path = this.opts.rewrite ? this.opts.rewrite(path) : path.slice(this.opts.basePath.length) || '/';
    const hit = this.templates.find((t) => t.re.test(path));
    const op = hit && this.doc.paths[hit.template][req.method.toLowerCase()];
    if (!hit || !op) return { request, problems: [] }; // the request check reports it
    const response = this.deref(op.responses?.[String(reply.status)] ?? op.responses?.default);
    // Pure's definition describes no error answers: those follow array-apis.md §1 and the fake's err()
    if (!response && reply.status >= 400) return { request, template: hit.template, problems: [] };
    if (!response) return { request, template: hit.template, problems: [`status ${reply.status} is not defined for ${req.method} ${hit.template}`] };
    const schema = response.schema ?? response.content?.['application/json']?.schema;
    const problems: string[] = [];
    const body = reply.body;
    const empty = body === undefined || body === '' || (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0);
    if (!empty) {
      if (!schema) problems.push(`a body is answered but ${req.method} ${hit.template} ${reply.status} defines none`);
      else this.checkValue(body, schema, 'response', problems, 'response');
    }
    return { request, template: hit.template, problems };
  }

  private checkValue(value: Json, schema: Json, where: string, problems: string[], side: 'request' | 'response' = 'request'): void {
    const s = this.deref(schema) ?? {};
    if (Array.isArray(value)) {
      if (s.type && s.type !== 'array') problems.push(`${where} is an array, the definition says ${s.type}`);
      else if (s.items) value.forEach((v, i) => this.checkValue(v, s.items, `${where}[${i}]`, problems, side));
      return;
    }
    if (value !== null && typeof value === 'object') {
      const { props, required, open } = this.shape(s);
      if (Object.keys(props).length === 0 && open) return;
      for (const [k, v] of Object.entries(value)) {
        if (!(k in props)) problems.push(`${where}.${k} is not a field of the ${side} schema`);
        else this.checkValue(v, props[k], `${where}.${k}`, problems, side);
      }
      // a response may leave out what `fields`/`select` did not ask for
      if (side === 'request') for (const r of required) if (!(r in value)) problems.push(`${where}.${r} is required`);
      return;
    }
    const enumValues = s.enum ?? (s.$ref ? this.deref(s)?.enum : undefined);
    if (value === null && (s['x-nullable'] || s.nullable || side === 'response')) return;
    if (enumValues && !enumValues.includes(value)) problems.push(`${where} = ${JSON.stringify(value)} is not one of ${enumValues.join(', ')}`);
    if (s.type === 'boolean' && typeof value !== 'boolean') problems.push(`${where} should be a boolean`);
    if ((s.type === 'integer' || s.type === 'number') && typeof value !== 'number') problems.push(`${where} should be a number`);
    if (s.type === 'string' && typeof value !== 'string') problems.push(`${where} should be a string`);
  }

  private bodySchema(op: Json, params: Json[]): Json | undefined {
    const body = params.find((p) => p.in === 'body');
    if (body) return body.schema;
    const content = this.deref(op.requestBody)?.content;
    return content?.['application/json']?.schema;
  }

  /** Field names of the model a GET returns (PowerStore filters are `<field>=eq.value`). */
  private listModelFields(op: Json): Set<string> {
    const ok = op.responses?.['200'] ?? op.responses?.['206'];
    const schema = this.deref(ok?.schema ?? ok?.content?.['application/json']?.schema);
    const item = schema?.type === 'array' ? schema.items : schema;
    return new Set(Object.keys(this.shape(item).props));
  }
}

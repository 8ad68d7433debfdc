// Request/response header mutations of a route, virtual host, route configuration or weighted
// cluster entry, compiled once: Envoy's HeaderParser (`request_headers_to_add/_remove`,
// `response_headers_to_add/_remove`, core.v3.HeaderValueOption.append_action, "Custom request/
// response headers" with %COMMAND% values). Applied in place to flat [name, value, ...] lists.
import type { HeaderMutations, HeaderValueOption } from '../config/types.js';
import type { StreamInfo } from '../stream-info.js';
import { compileTemplate } from '../../observe/access-log/format.js';
import { RouteConfigError } from './errors.js';

type ValueFn = (info: StreamInfo) => string;

const APPEND = 0;            // APPEND_IF_EXISTS_OR_ADD
const ADD_IF_ABSENT = 1;
const OVERWRITE_OR_ADD = 2;  // OVERWRITE_IF_EXISTS_OR_ADD
const OVERWRITE_IF_EXISTS = 3;

const ACTIONS: Readonly<Record<HeaderValueOption['appendAction'], number>> = {
  APPEND_IF_EXISTS_OR_ADD: APPEND,
  ADD_IF_ABSENT,
  OVERWRITE_IF_EXISTS_OR_ADD: OVERWRITE_OR_ADD,
  OVERWRITE_IF_EXISTS,
};

// One `%COMMAND%`, `%COMMAND(ARG)%` or `%COMMAND(ARG):N%` (the access-log grammar), or `%%`.
const SEGMENT_RE = /%%|%[A-Z0-9_]+(?:\([^)]*\))?(?::[0-9]+)?%/g;

/**
 * A header value with command operators → parts (literals and per-command formatters). Each
 * command is rendered on its own so an unset value becomes '' rather than the access log's `-`
 * (Envoy formats header values with omit_empty_values); a header whose whole value is empty is
 * then not added (keep_empty_value defaults to false).
 */
function compileValue(value: string): readonly (string | ValueFn)[] {
  compileTemplate(value); // validates the whole value; throws FormatError with the position
  const parts: (string | ValueFn)[] = [];
  let text = '';
  let last = 0;
  for (const m of value.matchAll(SEGMENT_RE)) {
    text += value.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === '%%') { text += '%'; continue; }
    if (text !== '') { parts.push(text); text = ''; }
    const render = compileTemplate(m[0]);
    parts.push((info) => { const v = render(info); return v === '-' ? '' : v; });
  }
  text += value.slice(last);
  if (text !== '') parts.push(text);
  return parts;
}

/** One entry of `*_headers_to_add`, with its value pre-compiled. */
class HeaderToAdd {
  constructor(
    readonly key: string,
    /** The value when it has no command operator (already unescaped); null otherwise. */
    readonly literal: string | null,
    readonly parts: readonly (string | ValueFn)[],
    readonly action: number,
  ) {}

  value(info: StreamInfo): string {
    if (this.literal !== null) return this.literal;
    const parts = this.parts;
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      out += typeof p === 'string' ? p : p(info);
    }
    return out;
  }
}

// Scratch space for one evaluation (header mutation is synchronous and never re-entered).
const scratchValues: string[] = [];
const scratchDecisions: number[] = [];

function hasHeader(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

function removeHeaders(headers: string[], names: readonly string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const k = headers[r]!;
    if (names.includes(k)) continue;
    if (w !== r) { headers[w] = k; headers[w + 1] = headers[r + 1]!; }
    w += 2;
  }
  headers.length = w;
}

/** Envoy's setReferenceKey: drop every value of the header, then add the new one. */
function setHeader(headers: string[], name: string, value: string): void {
  if (hasHeader(headers, name)) removeHeaders(headers, [name]);
  headers.push(name, value);
}

/**
 * One level's evaluation, as Envoy's HeaderParser::evaluateHeaders: remove first; then every
 * value is formatted and every append_action decided against the headers as they are now; then
 * overwrites are applied, then additions (so formatters never see this level's own changes).
 */
function evaluate(
  headers: string[], info: StreamInfo, remove: readonly string[], add: readonly HeaderToAdd[], simple: boolean,
): void {
  if (remove.length > 0) removeHeaders(headers, remove);
  const n = add.length;
  if (n === 0) return;
  if (simple) { // literal values, all APPEND_IF_EXISTS_OR_ADD: nothing to decide
    for (let i = 0; i < n; i++) { const e = add[i]!; if (e.literal !== '') headers.push(e.key, e.literal!); }
    return;
  }
  let overwrites = 0;
  for (let i = 0; i < n; i++) {
    const e = add[i]!;
    const v = e.value(info);
    scratchValues[i] = v;
    let d = 0; // 0 skip, 1 add, 2 overwrite
    if (v !== '') {
      switch (e.action) {
        case APPEND: d = 1; break;
        case ADD_IF_ABSENT: d = hasHeader(headers, e.key) ? 0 : 1; break;
        case OVERWRITE_OR_ADD: d = 2; break;
        default: d = hasHeader(headers, e.key) ? 2 : 0; break; // OVERWRITE_IF_EXISTS
      }
    }
    if (d === 2) overwrites++;
    scratchDecisions[i] = d;
  }
  if (overwrites > 0) {
    for (let i = 0; i < n; i++) if (scratchDecisions[i] === 2) setHeader(headers, add[i]!.key, scratchValues[i]!);
  }
  for (let i = 0; i < n; i++) if (scratchDecisions[i] === 1) headers.push(add[i]!.key, scratchValues[i]!);
  scratchValues.length = 0;
}

export class CompiledHeaderMutations {
  static readonly EMPTY: CompiledHeaderMutations = new CompiledHeaderMutations([], [], [], []);

  /** True when neither direction changes anything. */
  readonly isEmpty: boolean;
  readonly hasRequest: boolean;
  readonly hasResponse: boolean;
  private readonly simpleRequest: boolean;
  private readonly simpleResponse: boolean;

  /** @internal Use compileHeaderMutations. */
  constructor(
    private readonly requestRemove: readonly string[],
    private readonly requestAdd: readonly HeaderToAdd[],
    private readonly responseRemove: readonly string[],
    private readonly responseAdd: readonly HeaderToAdd[],
  ) {
    this.hasRequest = requestRemove.length > 0 || requestAdd.length > 0;
    this.hasResponse = responseRemove.length > 0 || responseAdd.length > 0;
    this.isEmpty = !this.hasRequest && !this.hasResponse;
    this.simpleRequest = requestAdd.every((e) => e.literal !== null && e.action === APPEND);
    this.simpleResponse = responseAdd.every((e) => e.literal !== null && e.action === APPEND);
  }

  /** Applies request_headers_to_remove, then request_headers_to_add, to a flat list in place. */
  applyRequest(headers: string[], info: StreamInfo): void {
    if (this.hasRequest) evaluate(headers, info, this.requestRemove, this.requestAdd, this.simpleRequest);
  }

  /** Applies response_headers_to_remove, then response_headers_to_add, to a flat list in place. */
  applyResponse(headers: string[], info: StreamInfo): void {
    if (this.hasResponse) evaluate(headers, info, this.responseRemove, this.responseAdd, this.simpleResponse);
  }
}

function isModifiable(name: string): boolean {
  return name !== '' && name[0] !== ':' && name !== 'host';
}

function compileAdds(list: readonly HeaderValueOption[], path: string, errors: string[]): HeaderToAdd[] {
  const out: HeaderToAdd[] = [];
  list.forEach((h, i) => {
    const key = h.key.toLowerCase();
    if (!isModifiable(key)) {
      errors.push(`${path}[${i}].key: ':'-prefixed or host headers may not be modified ('${h.key}')`);
      return;
    }
    const action = ACTIONS[h.appendAction];
    if (action === undefined) {
      errors.push(`${path}[${i}].appendAction: unknown value '${String(h.appendAction)}'`);
      return;
    }
    if (!h.value.includes('%')) { out.push(new HeaderToAdd(key, h.value, [], action)); return; }
    let parts: readonly (string | ValueFn)[];
    try {
      parts = compileValue(h.value);
    } catch (err) {
      errors.push(`${path}[${i}].value: ${(err as Error).message}`);
      return;
    }
    const literal = parts.length === 0 ? '' : parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : null;
    out.push(new HeaderToAdd(key, literal, parts, action));
  });
  return out;
}

function compileRemoves(list: readonly string[], path: string, errors: string[]): string[] {
  const out: string[] = [];
  list.forEach((name, i) => {
    const key = name.toLowerCase();
    if (!isModifiable(key)) errors.push(`${path}[${i}]: ':'-prefixed or host headers may not be removed ('${name}')`);
    else out.push(key);
  });
  return out;
}

/** @internal Compiles one level, collecting errors (prefixed with `path`) instead of throwing. */
export function compileHeaderMutationsInto(m: HeaderMutations, path: string, errors: string[]): CompiledHeaderMutations {
  const p = path === '' ? '' : path + '.';
  const reqAdd = compileAdds(m.requestHeadersToAdd, `${p}requestHeadersToAdd`, errors);
  const reqRemove = compileRemoves(m.requestHeadersToRemove, `${p}requestHeadersToRemove`, errors);
  const respAdd = compileAdds(m.responseHeadersToAdd, `${p}responseHeadersToAdd`, errors);
  const respRemove = compileRemoves(m.responseHeadersToRemove, `${p}responseHeadersToRemove`, errors);
  if (reqAdd.length + reqRemove.length + respAdd.length + respRemove.length === 0) return CompiledHeaderMutations.EMPTY;
  return new CompiledHeaderMutations(reqRemove, reqAdd, respRemove, respAdd);
}

/**
 * Compiles header mutations once (values with `%COMMAND%` operators become formatters).
 * Throws RouteConfigError listing every bad entry.
 * @example compileHeaderMutations(route).applyRequest(headers, info)
 */
export function compileHeaderMutations(m: HeaderMutations): CompiledHeaderMutations {
  const errors: string[] = [];
  const compiled = compileHeaderMutationsInto(m, '', errors);
  if (errors.length > 0) throw new RouteConfigError('', errors);
  return compiled;
}

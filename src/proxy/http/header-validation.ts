// Request header checks shared by the downstream codecs: Envoy's headers_with_underscores_action
// (envoy.config.core.v3.HttpProtocolOptions): a field name with an underscore is allowed, dropped,
// or makes the request rejected. Headers are flat [name, value, ...] lists, names lower-cased.
// Only called when the action is not ALLOW, so the default costs nothing per request.

/** Whether any field name has an underscore. */
export function hasUnderscoreName(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.includes('_')) return true;
  return false;
}

/** Removes (in place) the fields whose names have an underscore; returns how many were removed. */
export function dropUnderscoreNames(headers: string[]): number {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r]!;
    if (name.includes('_')) continue;
    headers[w++] = name;
    headers[w++] = headers[r + 1]!;
  }
  const dropped = (headers.length - w) >> 1;
  headers.length = w;
  return dropped;
}

// The one error the route compiler throws: every problem of a RouteConfiguration at once, each
// prefixed with the path of the bad field (route_components.proto names, camelCase as in types.ts).

export class RouteConfigError extends Error {
  override readonly name = 'RouteConfigError';
  readonly code = 'WEFT_ROUTE_CONFIG';
  constructor(
    /** Route configuration name. */
    readonly routeConfig: string,
    /** One line per problem, e.g. `virtualHosts[0].routes[2].match.path.regex: invalid regular expression: ...`. */
    readonly errors: readonly string[],
  ) {
    super(`route configuration '${routeConfig}' rejected: ${errors.join('; ')}`);
  }
}

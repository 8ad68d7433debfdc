// The verification outcomes of envoy.filters.http.jwt_authn, worded as Envoy's jwt_verify_lib
// words them: the text is the 401 body and, with spaces as underscores, the response code details
// `jwt_authn_access_denied{<text>}`.

export const STATUS = {
  Ok: 'OK',
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature',
  JwtHeaderParseError: 'Jwt header is an invalid Base64url input or an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is not a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] field value is invalid',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseError: 'Jwt payload is an invalid Base64 or an invalid JSON',
  JwtSignatureParseError: 'Jwt signature is an invalid Base64',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksParseError: 'Jwks is an invalid JSON',
  JwksNoKeys: 'Jwks does not have [keys] field',
  JwksBadKeys: '[keys] in Jwks is not an array',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

export type Status = typeof STATUS[keyof typeof STATUS];

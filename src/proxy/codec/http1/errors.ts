// The one error class of the HTTP/1.1 codec: a framing or syntax violation of RFC 9112 / RFC 9110
// found by the parser, with a stable `code` (llhttp-style `HPE_*` names) and the status to answer.

/**
 * Stable codes (status in brackets):
 * - `HPE_INVALID_METHOD` [400] method is not a token
 * - `HPE_INVALID_URL` [400] request-target empty, with SP / CTL / non-ASCII bytes, or a form the method does not allow
 * - `HPE_INVALID_VERSION` [400] malformed HTTP-version; `HPE_UNSUPPORTED_VERSION` [505] not 1.0 / 1.1
 * - `HPE_INVALID_STATUS` [400] malformed status-line (responses)
 * - `HPE_INVALID_HEADER_TOKEN` [400] bad field-name char, whitespace before the colon, no colon
 * - `HPE_INVALID_HEADER_VALUE` [400] CTL (other than HTAB) in a field value
 * - `HPE_OBS_FOLD` [400] a field line starting with SP / HTAB
 * - `HPE_BARE_LF` [400] LF not preceded by CR in the head or the chunk framing
 * - `HPE_LF_EXPECTED` [400] CR not followed by LF
 * - `HPE_HEADER_OVERFLOW` [431] head (or trailer section) larger than `maxHeaderBytes`
 * - `HPE_TOO_MANY_HEADERS` [431] more field lines in a head (or trailer section) than `maxHeadersCount`
 * - `HPE_MISSING_HOST` / `HPE_MULTIPLE_HOST` / `HPE_INVALID_HOST` [400] (also an absolute-form
 *   request-target whose authority has characters a Host value may not have, or userinfo)
 * - `HPE_INVALID_CONTENT_LENGTH` [400] not 1*DIGIT or above 2^53-1
 * - `HPE_CONFLICTING_CONTENT_LENGTH` [400] differing Content-Length values
 * - `HPE_CL_AND_TE` [400] Content-Length together with Transfer-Encoding
 * - `HPE_INVALID_TRANSFER_ENCODING` [400] final coding not chunked (requests), chunked twice, empty, or TE in HTTP/1.0
 * - `HPE_UNKNOWN_TRANSFER_ENCODING` [501] request with a coding other than chunked before a final chunked
 * - `HPE_INVALID_CHUNK_SIZE` [400] non-hex / empty / overflowing chunk size, junk after it
 * - `HPE_INVALID_CHUNK_DATA` [400] chunk data not followed by CRLF
 * - `HPE_CHUNK_EXTENSIONS_OVERFLOW` [400] chunk-size line longer than the bound
 * - `HPE_INVALID_EOF_STATE` [400] peer closed in the middle of a message
 */
export class Http1ParseError extends Error {
  override readonly name = 'Http1ParseError';

  constructor(
    /** Stable machine-readable code, e.g. `HPE_CL_AND_TE`. */
    readonly code: string,
    message: string,
    /** Status for the local reply: 400, 431, 501 or 505. */
    readonly status: number,
  ) {
    super(message);
  }
}

// Access log decoders: envoy.config.accesslog.v3.AccessLog, the file and stdout/stderr loggers
// (envoy.extensions.access_loggers.{file,stream}.v3) and envoy.config.core.v3.SubstitutionFormatString.

import type { AccessLogConfig } from '../proxy/config/types.js';
import { dataSource } from './core.js';
import { defineMessage, message, nonEmptyString, string, struct, type Msg, type Reader } from './decode/readers.js';
import { typedConfig, type Extension } from './decode/typed.js';

type LogFormat = AccessLogConfig['format'];

/** Envoy's default access log line, used when no format is configured. */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
  + '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
  + '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
  + '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

const DEFAULT_FORMAT: LogFormat = { kind: 'text', template: DEFAULT_ACCESS_LOG_FORMAT };

const SUBSTITUTION_FORMAT_STRING = defineMessage({
  name: 'envoy.config.core.v3.SubstitutionFormatString',
  fields: ['text_format', 'json_format', 'text_format_source'],
  unsupported: ['omit_empty_values', 'content_type', 'formatters', 'json_format_options'],
});

/** envoy.config.core.v3.SubstitutionFormatString: text_format, text_format_source or json_format. */
export const substitutionFormatString: Reader<LogFormat> = message(SUBSTITUTION_FORMAT_STRING, (m) => {
  switch (m.oneof(['text_format', 'text_format_source', 'json_format'], { required: true })) {
    case 'text_format': {
      const template = m.opt('text_format', string);
      return template === undefined ? undefined : { kind: 'text', template };
    }
    case 'text_format_source': {
      const template = m.opt('text_format_source', dataSource);
      return template === undefined ? undefined : { kind: 'text', template };
    }
    case 'json_format': {
      const fields = m.opt('json_format', struct);
      return fields === undefined ? undefined : { kind: 'json', fields };
    }
    default: return undefined;
  }
});

const FILE_ACCESS_LOG = defineMessage({
  name: 'envoy.extensions.access_loggers.file.v3.FileAccessLog',
  fields: ['path', 'format', 'json_format', 'log_format'],
  unsupported: ['typed_json_format'],
});

/** The file logger's format: `log_format`, or the deprecated `format` / `json_format`. */
function fileFormat(m: Msg): LogFormat | undefined {
  switch (m.oneof(['log_format', 'format', 'json_format'], { required: false, others: ['typed_json_format'] })) {
    case 'log_format': return m.opt('log_format', substitutionFormatString);
    case 'format': {
      const template = m.opt('format', string);
      return template === undefined ? undefined : { kind: 'text', template };
    }
    case 'json_format': {
      const fields = m.opt('json_format', struct);
      return fields === undefined ? undefined : { kind: 'json', fields };
    }
    default: return DEFAULT_FORMAT;
  }
}

export const fileAccessLogExtension: Extension<'access_logger'> = {
  category: 'access_logger',
  typeUrl: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
  spec: FILE_ACCESS_LOG,
  decode(m) {
    const path = m.req('path', nonEmptyString);
    const format = fileFormat(m);
    if (path === undefined || format === undefined) return undefined;
    return { sink: { kind: 'file', path }, format };
  },
};

function streamLogger(stream: 'stdout' | 'stderr'): Extension<'access_logger'> {
  const Name = stream === 'stdout' ? 'StdoutAccessLog' : 'StderrAccessLog';
  return {
    category: 'access_logger',
    typeUrl: `type.googleapis.com/envoy.extensions.access_loggers.stream.v3.${Name}`,
    spec: defineMessage({ name: `envoy.extensions.access_loggers.stream.v3.${Name}`, fields: ['log_format'] }),
    decode(m) {
      const format = m.has('log_format') ? m.opt('log_format', substitutionFormatString) : DEFAULT_FORMAT;
      return format === undefined ? undefined : { sink: { kind: stream }, format };
    },
  };
}

export const stdoutAccessLogExtension = streamLogger('stdout');
export const stderrAccessLogExtension = streamLogger('stderr');

const ACCESS_LOG = defineMessage({
  name: 'envoy.config.accesslog.v3.AccessLog',
  fields: ['typed_config'],
  unsupported: ['filter'],
  informational: ['name'],
});

/** envoy.config.accesslog.v3.AccessLog: a logger chosen by typed_config's "@type". */
export const accessLog: Reader<AccessLogConfig> = message(ACCESS_LOG, (m) => {
  const name = m.get('name', string, '');
  return m.req('typed_config', typedConfig('access_logger', { name }));
});

/** Envoy admin's deprecated `access_log_path`: a file logger with the default format. */
export function fileLogWithDefaultFormat(path: string): AccessLogConfig {
  return { sink: { kind: 'file', path }, format: DEFAULT_FORMAT };
}

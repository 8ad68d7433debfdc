#!/usr/bin/env bash
# A stand-in for Weft in scenarios d–i of `npm run bench`, to check the harness end to end before
# the features land: `npm run bench -- --quick --only d,e,f,g,h,i,j,k --weft bench/stand-in-candidate.sh`.
# Called as `<this> proxy -c bench/envoy/X.yaml [--log-level L] [--concurrency N] [--validate]`, it
# runs HAProxy in the foreground on 127.0.0.1:18004 doing what X.yaml asks Weft to do (h2c, gRPC,
# TLS termination, TCP proxy) or, for bench/peers.yaml, the real Weft (without --concurrency).
# Its numbers are HAProxy's, not Weft's: never quote them.
set -eu
[ "${1:-}" = proxy ] && shift
CONFIG=""; VALIDATE=0; REST=()
while [ $# -gt 0 ]; do
  case "$1" in
    -c) CONFIG="$2"; shift 2 ;;
    --validate) VALIDATE=1; shift ;;
    --concurrency) shift 2 ;;
    *) REST+=("$1"); shift ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(basename "$CONFIG")" = peers.yaml ]; then
  args=(proxy -c "$CONFIG" "${REST[@]}"); [ "$VALIDATE" = 1 ] && args+=(--validate)
  exec node --max-semi-space-size=2 "$here/dist/src/cli/main.js" "${args[@]}"
fi
[ "$VALIDATE" = 1 ] && exit 0
mode=http; bind="127.0.0.1:18004"; server="127.0.0.1:18001"
case "$(basename "$CONFIG")" in
  h2c.yaml) bind="$bind proto h2" ;;
  grpc.yaml) bind="$bind proto h2"; server="127.0.0.1:18005 proto h2" ;;
  sidecar-out.yaml) bind="$bind proto h2"; server="127.0.0.1:18006 proto h2" ;;
  sidecar-in.yaml) bind="127.0.0.1:18006 proto h2"; server="127.0.0.1:18005 proto h2" ;;
  tls.yaml) bind="$bind ssl crt /tmp/weft-bench-tls/server.pem" ;;
  tcp.yaml) mode=tcp ;;
  *) echo "stand-in: unknown config $CONFIG" >&2; exit 1 ;;
esac
cfg=$(mktemp /tmp/stand-in.XXXXXX.cfg)
trap 'rm -f "$cfg"' EXIT
cat > "$cfg" <<CFG
global
  nbthread 1
  maxconn 4000
defaults
  mode $mode
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind $bind
  default_backend be
backend be
  server s1 $server
CFG
haproxy -db -f "$cfg"

#!/usr/bin/env bash
# Installs the seedbox tools of the tests/webui scripts (idempotent):
# - into the venv .venv-tests at the repo root (made here when tests/webui/setup.sh
#   has not made it yet; --system-site-packages keeps Debian's python3-libtorrent):
#   qbit_manage, prometheus-qbittorrent-exporter, websocket-client (the DevTools
#   protocol client of flood_ui.py), pinned;
# - Flood and @ctrl/transmission into tests/webui/node_modules (npm, pinned by tests/webui/package.json
#   and package-lock.json).
# Also needs (apt, .ci/run): prometheus, chromium, python3-libtorrent, nodejs/npm.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tests"
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
pins=(qbit-manage==4.14.0 prometheus-qbittorrent-exporter==1.7.0 websocket-client==1.9.2)
# pip check of the pins first: a venv that has them is left alone (no registry call).
if ! "$venv/bin/python" - "${pins[@]}" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  "$venv/bin/pip" install -q "${pins[@]}"
fi
if [ ! -x "$root/tests/webui/node_modules/.bin/flood" ] \
  || [ "$(node -p 'require(process.argv[1]).version' "$root/tests/webui/node_modules/flood/package.json")" != 4.9.5 ] \
  || [ ! -f "$root/tests/webui/node_modules/@ctrl/transmission/package.json" ] \
  || [ "$(node -p 'require(process.argv[1]).version' "$root/tests/webui/node_modules/@ctrl/transmission/package.json")" != 7.4.0 ]; then
  (cd "$root/tests/webui" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup-tools: $("$venv/bin/qbit-manage" --version 2>/dev/null | tail -1 || true)," \
  "prometheus-qbittorrent-exporter $("$venv/bin/python" -c 'from importlib.metadata import version; print(version("prometheus-qbittorrent-exporter"))')," \
  "flood $(node -p 'require(process.argv[1]).version' "$root/tests/webui/node_modules/flood/package.json")"

#!/usr/bin/env bash
# Creates .venv-tests at the repository root for the qBittorrent WebUI API tests
# (tests/webui/*.py, tests/webui.rs): Debian's /usr/bin/python3 with its system
# site-packages (so python3-libtorrent imports) plus pinned client libraries.
# Idempotent: an existing venv with the pinned versions is left as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tests"
# Pinned: qbittorrent-api is what qbit_manage drives qBittorrent with (the versions
# qbit-manage 4.14.0 itself requires, so setup-tools.sh changes nothing back);
# transmission-rpc (rpc-version 14 and up) drives tests/transmission_rpc/tools_pylib.py.
pins=(qbittorrent-api==2026.10.0 requests==2.34.2 urllib3==2.5.0 packaging==25.0
      transmission-rpc==7.0.12 typing_extensions==4.16.0)
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
want="$(printf '%s\n' "${pins[@]}" | sort)"
have="$("$venv/bin/python" -m pip freeze --local 2>/dev/null | grep -iE '^(qbittorrent-api|requests|urllib3|packaging|transmission-rpc|typing_extensions)==' | sort || true)"
if [ "${want,,}" != "${have,,}" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
fi
"$venv/bin/python" -c 'import qbittorrentapi, requests, libtorrent, transmission_rpc' \
  || { echo "setup.sh: $venv cannot import qbittorrentapi/requests/libtorrent/transmission_rpc" >&2; exit 1; }

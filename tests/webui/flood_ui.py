"""Flood 4.9.5 (npm `flood`) and headless Chromium against a qBittorrent WebUI API v2 server.

    flood_ui.py URL USER PASS OUT_DIR

The server must hold at least one torrent (complete, seeding) and accept
peers on its peer port (env WEBUI_PEER_PORT, else app/preferences listen_port).

Checks:
  1. A real libtorrent leecher (/usr/bin/python3, python3-libtorrent; the
     .torrent from torrents/export, or env WEBUI_TORRENT_DIR) connects to the
     server and downloads one torrent at 16 KiB/s, so it stays connected; the
     server lists it (torrents/info num_leechs >= 1).
  2. Flood (`flood --auth none --qburl URL --qbuser USER --qbpass PASS`, own
     temp --rundir, 127.0.0.1 and a free port) starts; through Flood's own HTTP
     API (GET /api/auth/verify for the session cookie, GET /api/torrents,
     GET /api/torrents/HASH/peers): every torrent of the server is listed
     with its name, size and complete; the leeched torrent's peers include
     the leecher (127.0.0.1, its client name).
  3. Headless Chromium, driven through the DevTools protocol, opens Flood's
     page: the torrent list shows every torrent name of the server
     (screenshot OUT_DIR/flood.png); a double click on the leeched torrent
     opens its details, the "Peers" tab shows the leecher's address
     (screenshot OUT_DIR/flood-peers.png).
"""

import base64
import itertools
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools_common import (  # noqa: E402
    workdir,
    HERE,
    Qbt,
    check,
    check_alive,
    fail,
    free_port,
    log_tail,
    main_wrapper,
    peer_port,
    spawn,
    start_leecher,
    torrent_file,
    wait_for,
)

import requests  # noqa: E402
import websocket  # noqa: E402  (websocket-client)


def flood_cmd():
    local = os.path.join(HERE, "node_modules", ".bin", "flood")
    if os.path.exists(local):
        return [local]
    found = shutil.which("flood")
    check(found, "flood not installed (run tests/webui/setup-tools.sh)")
    return [found]


class Cdp:
    """A minimal Chrome DevTools protocol client for one page target."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method, **params):
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    fail(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"JS {expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print(f"screenshot {path}")

    def click(self, x, y, count=1):
        """Moves the mouse to (x, y), then clicks (count 2: a click, then a
        double click, like a user; sent at once, Flood misses the double)."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for n in range(1, count + 1):
            if n > 1:
                time.sleep(0.3)
            for t in ("mousePressed", "mouseReleased"):
                self.call("Input.dispatchMouseEvent", type=t, x=x, y=y, button="left", clickCount=n)


# The centre of the smallest visible element below ROOT (a CSS selector)
# whose text is exactly TEXT.
FIND = """(() => {
  const [root, want] = %s;
  let best = null;
  for (const el of document.querySelectorAll(root + ' *')) {
    if ((el.innerText || '').trim() !== want) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (!best || r.width * r.height < best.w * best.h)
      best = {x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width, h: r.height};
  }
  return best;
})()"""


def start_flood(client_args, work):
    """Flood (--auth none, its own --rundir in work, 127.0.0.1 and a free
    port) in front of the torrent client that client_args name (e.g.
    ["--qburl", URL, "--qbuser", U, "--qbpass", P] or --trurl/--truser/
    --trpass). Returns (process, its URL, a requests session holding the
    jwt cookie of GET /api/auth/verify)."""
    fport = free_port()
    furl = f"http://127.0.0.1:{fport}"
    flood = spawn(
        flood_cmd()
        + [
            "--rundir", os.path.join(work, "rundir"),
            "--host", "127.0.0.1",
            "--port", str(fport),
            "--auth", "none",
        ]
        + client_args,
        os.path.join(work, "flood.log"),
    )
    fs = requests.Session()

    def verified():
        check_alive(flood, "flood")
        r = fs.get(f"{furl}/api/auth/verify", timeout=10)
        return r.ok and "jwt" in fs.cookies
    wait_for("Flood's /api/auth/verify", verified, 60)
    return flood, furl, fs


def api_lists(flood, furl, fs, names):
    """Waits until Flood's GET /api/torrents lists exactly `names` (sorted);
    returns its torrents, keyed by upper-case info hash."""
    def flood_torrents():
        check_alive(flood, "flood")
        r = fs.get(f"{furl}/api/torrents", timeout=30)
        r.raise_for_status()
        ts = r.json().get("torrents", {})
        return ts if sorted(t["name"] for t in ts.values()) == names else None
    return wait_for(f"Flood's /api/torrents to list {names}", flood_torrents, 60)


def page_lists(furl, names, work, png):
    """Headless Chromium opens Flood's page at furl, waits until its text
    shows every name of `names`, screenshots it to png. Returns the Cdp."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    check(chromium, "chromium not installed (apt-get install chromium)")
    cport = free_port()
    browser = spawn(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1400,900",
            f"--remote-debugging-port={cport}",
            "--remote-allow-origins=*",
            f"--user-data-dir={os.path.join(work, 'chromium')}",
            "about:blank",
        ],
        os.path.join(work, "chromium.log"),
    )

    def page_ws():
        check_alive(browser, "chromium")
        pages = requests.get(f"http://127.0.0.1:{cport}/json/list", timeout=5).json()
        return next((p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page"), None)
    cdp = Cdp(wait_for("chromium's DevTools page target", page_ws, 60))
    cdp.call("Page.enable")
    cdp.call("Runtime.enable")
    cdp.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
    cdp.call("Page.navigate", url=furl + "/")

    def list_shows_names():
        text = cdp.eval("document.body ? document.body.innerText : ''") or ""
        return all(n in text for n in names) and text
    try:
        wait_for(f"Flood's page to list {names}", list_shows_names, 60, 0.5)
        # The list is there under the fading "loading" overlay (its list of
        # dependencies): let it go before the screenshot (cosmetic, no failure).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Torrent Taxonomy" in (cdp.eval("document.body.innerText") or ""):
            time.sleep(0.25)
        time.sleep(0.5)
    finally:
        cdp.screenshot(png)
    print(f"Flood page lists {names}")
    return cdp


def run():
    url, user, password, out_dir = sys.argv[1:5]
    os.makedirs(out_dir, exist_ok=True)
    work = workdir("flood-")
    qbt = Qbt(url, user, password)
    torrents = qbt.torrents()
    check(torrents, "the server has no torrents")
    names = sorted(t["name"] for t in torrents)
    print(f"server {qbt.get('app/version').text}: torrents {names}")

    # 1. A real peer, kept connected by a slow download.
    running = [t for t in torrents if not t["state"].startswith(("paused", "stopped", "error", "missing"))]
    check(running, f"no running torrent to leech: {[(t['name'], t['state']) for t in torrents]}")
    target = max(running, key=lambda t: t["size"])
    tfile = torrent_file(qbt, target["hash"], work)
    port = peer_port(qbt)
    leecher = start_leecher(tfile, os.path.join(work, "leech"), port, os.path.join(work, "leecher.log"), rate=16384)

    def server_sees_leecher():
        check_alive(leecher, "libtorrent leecher")
        t = qbt.by_hash()[target["hash"]]
        return t["num_leechs"] >= 1
    wait_for(f"the server to list the leecher on {target['name']} (peer port {port})", server_sees_leecher, 60)
    print(f"leecher connected to 127.0.0.1:{port}, downloading {target['name']}")

    # 2. Flood, its API.
    flood, furl, fs = start_flood(["--qburl", url, "--qbuser", user, "--qbpass", password], work)

    ft = api_lists(flood, furl, fs, names)
    for t in torrents:
        f = ft.get(t["hash"].upper())
        check(f is not None, f"Flood lists no torrent {t['hash'].upper()} ({t['name']}); it has {sorted(ft)}")
        check(f["name"] == t["name"], f"Flood name {f['name']!r} != {t['name']!r}")
        check(f["sizeBytes"] == t["size"], f"{t['name']}: Flood sizeBytes {f['sizeBytes']} != {t['size']}")
        check(f["percentComplete"] == 100, f"{t['name']}: Flood percentComplete {f['percentComplete']}")
    print(f"Flood /api/torrents: {names}")

    def flood_peers():
        r = fs.get(f"{furl}/api/torrents/{target['hash'].upper()}/peers", timeout=30)
        r.raise_for_status()
        return [p for p in r.json() if p.get("address") == "127.0.0.1"]
    peers = wait_for(f"Flood's peers of {target['name']} to show the leecher", flood_peers, 30)
    print(f"Flood /api/torrents/{target['hash'].upper()}/peers: {peers}")

    # 3. Chromium on Flood's page.
    cdp = page_lists(furl, names, work, os.path.join(out_dir, "flood.png"))

    # Double click on the torrent's name in the list opens its details (a .modal).
    spot = cdp.eval(FIND % json.dumps(["body", target["name"]]))
    check(spot, f"no element with text {target['name']!r} on Flood's page")
    cdp.click(spot["x"], spot["y"], count=2)

    # The modal opens with an animation: click the Peers tab once it stands
    # still, and again until the peers table is shown.
    state = {"last": None, "opened": time.monotonic()}

    def peers_shown():
        if not cdp.eval("!!document.querySelector('.modal')") and time.monotonic() - state["opened"] > 5:
            # The double click was lost (the list re-rendered): again.
            spot = cdp.eval(FIND % json.dumps(["body", target["name"]]))
            if spot:
                cdp.click(spot["x"], spot["y"], count=2)
            state["opened"] = time.monotonic()
            return None
        tab = cdp.eval(FIND % json.dumps([".modal .modal__tabs", "Peers"]))
        if tab and tab == state["last"]:
            text = cdp.eval("(document.querySelector('.modal') || {}).innerText || ''")
            if "127.0.0.1" in text and "ringseed-test-leecher" in text:
                return text
            cdp.click(tab["x"], tab["y"])
        state["last"] = tab
        return None

    try:
        wait_for(
            "the details' Peers tab (.modal .modal__tabs) to show the leecher (127.0.0.1, ringseed-test-leecher)",
            peers_shown,
            40,
            0.5,
        )
    finally:
        cdp.screenshot(os.path.join(out_dir, "flood-peers.png"))
    print(f"Flood's Peers tab of {target['name']} shows 127.0.0.1")
    err = [ln for ln in log_tail(flood.log_path, 200).splitlines() if "rror" in ln]
    if err:
        print("flood log errors (informational):\n" + "\n".join(err[:10]))


if __name__ == "__main__":
    main_wrapper("flood_ui", run)

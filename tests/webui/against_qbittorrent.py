"""Runs the tests/webui tool scripts against Debian's real qbittorrent-nox
(the reference the scripts were validated on; ringseed runs them in
tests/webui_tools.rs).

    .venv-tests/bin/python tests/webui/against_qbittorrent.py [--log LOG] [--fake-version] [SCRIPT...]

SCRIPT: qbit_manage, exporter, flood (default: all, in that order, on one
server). Starts qbittorrent-nox in a temp profile (WebUI on a free port,
admin/adminpass, PBKDF2 password, DHT/PEX/LSD off), makes 3 small torrents
with mktorrent (different announce hosts), runs qbit_manage_run.py (which
adds them), exporter_prometheus.py and flood_ui.py; exits non-zero when one
fails. --log puts log_proxy.py in front of the server and writes one JSON
line per API call the tools made to LOG. --fake-version makes the proxy
answer app/version v5.1.0 and app/webapiVersion 2.11.4 (what ringseed says),
to see what the tools do with such a server (the calls they make then may
not exist in 4.5.2).
"""

import base64
import hashlib
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools_common import HERE, Qbt, free_port, spawn, wait_for  # noqa: E402

USER, PASSWORD = "admin", "adminpass"


def pbkdf2(password):
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100000, 64)
    return base64.b64encode(salt).decode() + ":" + base64.b64encode(key).decode()


def start_qbittorrent(profile, webui_port, peer_port):
    conf = os.path.join(profile, "qBittorrent", "config")
    os.makedirs(conf)
    with open(os.path.join(conf, "qBittorrent.conf"), "w") as f:
        f.write(
            f"""[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={peer_port}
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\DHTEnabled=false
Session\\PeXEnabled=false
Session\\LSDEnabled=false
Session\\QueueingSystemEnabled=false
Session\\AnonymousModeEnabled=false
Session\\DefaultSavePath={profile}/downloads

[Preferences]
WebUI\\Address=127.0.0.1
WebUI\\Port={webui_port}
WebUI\\Username={USER}
WebUI\\Password_PBKDF2="@ByteArray({pbkdf2(PASSWORD)})"
WebUI\\LocalHostAuth=true
WebUI\\HostHeaderValidation=false
WebUI\\UseUPnP=false
Connection\\UPnP=false
"""
        )
    p = spawn(["qbittorrent-nox", f"--profile={profile}"], os.path.join(profile, "qbittorrent.log"))
    url = f"http://127.0.0.1:{webui_port}"
    wait_for("qbittorrent-nox WebUI", lambda: Qbt(url, USER, PASSWORD), 30)
    return p, url


def make_payload(root):
    data, torrents = os.path.join(root, "data"), os.path.join(root, "torrents")
    os.makedirs(torrents)
    trackers = {
        "alpha": "http://tracker.alpha.example:6969/announce",
        "beta": "http://beta.example.org/announce",
        "gamma": "udp://gamma.example.net:1337/announce",
    }
    for i, (name, announce) in enumerate(trackers.items()):
        d = os.path.join(data, name)
        os.makedirs(d)
        with open(os.path.join(d, f"{name}.bin"), "wb") as f:
            f.write(os.urandom(1024 * 1024 + 4099 * i))
        with open(os.path.join(d, "notes.txt"), "wb") as f:
            f.write(os.urandom(30000 + i))
        subprocess.run(
            ["mktorrent", "-a", announce, "-l", "16", "-o", os.path.join(torrents, f"{name}.torrent"), d],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return torrents, data


def main():
    args = sys.argv[1:]
    log = None
    fake = "--fake-version" in args
    if fake:
        args.remove("--fake-version")
    if "--log" in args:
        i = args.index("--log")
        log = os.path.abspath(args[i + 1])
        del args[i : i + 2]
    scripts = args or ["qbit_manage", "exporter", "flood"]
    root = tempfile.mkdtemp(prefix="against-qbt-")
    torrents, data = make_payload(root)
    _, url = start_qbittorrent(os.path.join(root, "profile"), free_port(), free_port())
    print(f"qbittorrent-nox at {url} (profile {root}/profile)", flush=True)
    if log or fake:
        port = free_port()
        proxy = [sys.executable, os.path.join(HERE, "log_proxy.py"), str(port), url, log or os.devnull]
        if fake:
            proxy.append("--fake-version")
        spawn(proxy, os.path.join(root, "proxy.log"))
        url = f"http://127.0.0.1:{port}"
        wait_for("log proxy", lambda: Qbt(url, USER, PASSWORD), 10)
        print(f"through log_proxy.py at {url}, log {log}", flush=True)
    if "qbit_manage" not in scripts:
        # The other scripts need torrents in the server: add them like qbit_manage_run.py does.
        from tools_common import add_torrents

        add_torrents(Qbt(url, USER, PASSWORD), torrents, data)
    failed = []
    for s in scripts:
        cmd = {
            "qbit_manage": ["qbit_manage_run.py", url, USER, PASSWORD, torrents, data],
            "exporter": ["exporter_prometheus.py", url, USER, PASSWORD],
            "flood": ["flood_ui.py", url, USER, PASSWORD, os.path.join(root, "flood-out")],
        }[s]
        cmd[0] = os.path.join(HERE, cmd[0])
        print(f"\n=== {s}: {' '.join(cmd)}", flush=True)
        r = subprocess.run([sys.executable] + cmd)
        if r.returncode != 0:
            failed.append(s)
    print(f"\nagainst qbittorrent-nox: {len(scripts) - len(failed)}/{len(scripts)} passed; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

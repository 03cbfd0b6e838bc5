#!/usr/bin/env python3
"""A real qBittorrent (Debian's qbittorrent-nox) in a throwaway profile: the
reference server the WebUI API scripts of tests/webui are validated against.

As a module: `with QbtNox(password=...) as q: q.url, q.peer_port`.
As a command:
  qbt_nox.py serve [--password P] [--save-path DIR]
      starts it, prints ONE JSON line {"url":…,"username":…,"password":…,
      "peer_port":…,"profile":…,"pid":…} once /api/v2/app/version answers
      with a logged-in session, and stops it when stdin closes or on SIGTERM.
  qbt_nox.py run [--password P] [--save-path DIR] -- CMD ARGS…
      the same, then runs CMD with {url} {user} {pass} {peer_port} in ARGS
      replaced; exits with CMD's status.

The profile (qBittorrent/config/qBittorrent.conf, written before start) sets
the WebUI port, user `admin` with a PBKDF2-SHA512 password (100000
iterations, 16-byte salt, 64-byte key, `@ByteArray(salt:key)` in base64),
LocalHostAuth on (loopback must log in too), the legal notice accepted,
DHT/PeX/LSD/UPnP off, queueing off, and the peer port.
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

NOX = shutil.which("qbittorrent-nox") or "/usr/bin/qbittorrent-nox"
USER = "admin"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pbkdf2_bytearray(password, salt=None):
    """qBittorrent's WebUI\\Password_PBKDF2 value for `password`."""
    salt = salt or os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100000, dklen=64)
    return "@ByteArray(%s:%s)" % (base64.b64encode(salt).decode(), base64.b64encode(key).decode())


class QbtNox:
    def __init__(self, password="adminadmin", save_path=None, webui_port=None, peer_port=None):
        self.password = password
        self.username = USER
        self.webui_port = webui_port or free_port()
        self.peer_port = peer_port or free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="qbt-nox-")
        self.profile = self._tmp.name
        self.save_path = save_path or os.path.join(self.profile, "downloads")
        self.url = "http://127.0.0.1:%d" % self.webui_port
        self.proc = None
        self.log_path = os.path.join(self.profile, "nox-stdout.log")

    def write_config(self):
        conf_dir = os.path.join(self.profile, "qBittorrent", "config")
        os.makedirs(conf_dir, exist_ok=True)
        # 4.5.2 reads [LegalNotice] Accepted (5.x: the same key); without it
        # nox asks on the terminal and waits.
        conf = f"""[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\PeXEnabled=false
Session\\LSDEnabled=false
Session\\Port={self.peer_port}
Session\\QueueingSystemEnabled=false
Session\\DefaultSavePath={self.save_path}
Session\\TempPathEnabled=false
Session\\AnonymousModeEnabled=false
Session\\AddTorrentPaused=false

[Preferences]
Connection\\UPnP=false
General\\Locale=en
WebUI\\Address=127.0.0.1
WebUI\\Port={self.webui_port}
WebUI\\Username={USER}
WebUI\\Password_PBKDF2="{pbkdf2_bytearray(self.password)}"
WebUI\\LocalHostAuth=true
WebUI\\CSRFProtection=true
WebUI\\HostHeaderValidation=true
WebUI\\UseUPnP=false
WebUI\\MaxAuthenticationFailCount=5
WebUI\\BanDuration=3600
"""
        with open(os.path.join(conf_dir, "qBittorrent.conf"), "w") as f:
            f.write(conf)

    def start(self, timeout=60):
        if not os.path.exists(NOX):
            raise SystemExit("qbittorrent-nox is not installed (apt-get install qbittorrent-nox)")
        self.write_config()
        os.makedirs(self.save_path, exist_ok=True)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [NOX, "--profile=" + self.profile, "--webui-port=%d" % self.webui_port],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=dict(os.environ, QBT_LEGAL_NOTICE="1"))
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("qbittorrent-nox exited with %s; log:\n%s" % (self.proc.returncode, self.log()))
            try:
                if self._logged_in_version():
                    return self
            except OSError as e:
                last = e
            time.sleep(0.2)
        self.stop()
        raise SystemExit("qbittorrent-nox did not answer in %ss (%s); log:\n%s" % (timeout, last, self.log()))

    def _logged_in_version(self):
        """True once a login with the known password gets a cookie and app/version answers."""
        data = urllib.parse.urlencode({"username": self.username, "password": self.password}).encode()
        with urllib.request.urlopen(urllib.request.Request(self.url + "/api/v2/auth/login", data=data), timeout=5) as r:
            body = r.read().decode()
            cookie = r.headers.get("Set-Cookie", "")
        if body != "Ok." or "SID=" not in cookie:
            raise SystemExit("qbittorrent-nox refused the configured password: %r" % body)
        sid = cookie.split(";")[0]
        req = urllib.request.Request(self.url + "/api/v2/app/version", headers={"Cookie": sid})
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.read().decode().startswith("v")

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["serve", "run"])
    ap.add_argument("--password", default="adminadmin")
    ap.add_argument("--save-path")
    cmd = argv[argv.index("--") + 1:] if "--" in argv else []
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    q = QbtNox(password=a.password, save_path=a.save_path)
    signal.signal(signal.SIGTERM, lambda *_: (q.stop(), sys.exit(0)))
    with q:
        if a.mode == "serve":
            print(json.dumps({"url": q.url, "username": q.username, "password": q.password,
                              "peer_port": q.peer_port, "profile": q.profile, "pid": q.proc.pid}), flush=True)
            sys.stdin.read()
            return 0
        if not cmd:
            ap.error("run needs -- CMD")
        subst = {"{url}": q.url, "{user}": q.username, "{pass}": q.password, "{peer_port}": str(q.peer_port)}
        args = []
        for x in cmd:
            for k, v in subst.items():
                x = x.replace(k, v)
            args.append(x)
        rc = subprocess.call(args)
        if rc != 0:
            sys.stderr.write("qbittorrent-nox log tail:\n%s\n" % q.log())
        return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""A real Transmission (Debian's transmission-daemon 3.00) in a throwaway
config dir: the reference server of the Transmission RPC scripts.

As a module: `with TrDaemon(user, password, download_dir) as t: t.url, t.peer_port`.
As a command:
  tr_daemon.py serve --user U --password P [--download-dir DIR]
      starts it, prints ONE JSON line {"url":…,"user":…,"password":…,
      "peer_port":…,"config":…,"pid":…,"version":…} once the RPC answers,
      and stops it when stdin closes or on SIGTERM.

It runs `transmission-daemon -f -g DIR -p RPC_PORT -P PEER_PORT --no-portmap
--no-dht -t -u U -v P` with a settings.json written first: RPC and peers
bound to 127.0.0.1, RPC whitelist 127.0.0.1 (Transmission's default), LPD,
PeX, uTP, blocklist and queueing off, added torrents started.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

DAEMON = shutil.which("transmission-daemon") or "/usr/bin/transmission-daemon"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def available():
    try:
        out = subprocess.run([DAEMON, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    text = (out.stdout + out.stderr).strip()
    return text if "transmission-daemon" in text else None


class TrDaemon:
    def __init__(self, user="admin", password="secret", download_dir=None):
        self.user, self.password = user, password
        self.rpc_port, self.peer_port = free_port(), free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="tr-daemon-")
        self.config = self._tmp.name
        self.download_dir = download_dir or os.path.join(self.config, "downloads")
        self.url = "http://127.0.0.1:%d" % self.rpc_port
        self.log_path = os.path.join(self.config, "daemon.log")
        self.proc = None
        self.version = available()

    def write_settings(self):
        os.makedirs(self.download_dir, exist_ok=True)
        settings = {
            "bind-address-ipv4": "127.0.0.1",
            "rpc-bind-address": "127.0.0.1",
            "rpc-whitelist-enabled": True,
            "rpc-whitelist": "127.0.0.1,::1",
            "rpc-host-whitelist-enabled": True,
            "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
            "port-forwarding-enabled": False, "blocklist-enabled": False,
            "download-queue-enabled": False, "seed-queue-enabled": False, "queue-stalled-enabled": False,
            "start-added-torrents": True, "incomplete-dir-enabled": False, "watch-dir-enabled": False,
            "download-dir": self.download_dir, "peer-port": self.peer_port,
            "message-level": 2,
        }
        with open(os.path.join(self.config, "settings.json"), "w") as f:
            json.dump(settings, f, indent=1)

    def start(self):
        self.write_settings()
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [DAEMON, "-f", "-g", self.config, "-p", str(self.rpc_port), "-P", str(self.peer_port),
             "--no-portmap", "--no-dht", "-t", "-u", self.user, "-v", self.password,
             "-w", self.download_dir, "-e", self.log_path + ".e"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("transmission-daemon exited %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                r = requests.post(self.url + "/transmission/rpc", data="{}", timeout=2)
                if r.status_code in (401, 409):
                    return self
            except requests.RequestException:
                pass
            if time.time() > deadline:
                raise RuntimeError("transmission-daemon RPC not answering:\n" + self.log())
            time.sleep(0.2)

    def log(self):
        out = ""
        for p in (self.log_path, self.log_path + ".e"):
            try:
                out += open(p, errors="replace").read()[-4000:]
            except OSError:
                pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("command", choices=["serve"])
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--download-dir")
    a = ap.parse_args()
    t = TrDaemon(a.user, a.password, a.download_dir)
    signal.signal(signal.SIGTERM, lambda *_: (t.stop(), sys.exit(0)))
    with t:
        print(json.dumps({"url": t.url, "user": t.user, "password": t.password, "peer_port": t.peer_port,
                          "config": t.config, "pid": t.proc.pid, "version": t.version}), flush=True)
        sys.stdin.read()  # until stdin closes
    return 0


if __name__ == "__main__":
    sys.exit(main())

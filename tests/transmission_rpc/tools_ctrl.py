"""@ctrl/transmission (npm) lists a Transmission RPC server's torrents.

    tools_ctrl.py URL USER PASS TORRENT_DIR DATA_DIR [OUT_DIR]

Adds the torrents (plain torrent-add, tools_shared.add_all), labels one
"ctrl-label", then runs `node tools_ctrl.mjs` (new Transmission({baseUrl,
path, username, password}).getAllData(), getTorrent(hash), getSession()).
Asserts: one normalized torrent per torrent added, its id (the info hash),
name, state "seeding", progress 1, isCompleted, totalSize, savePath
(DATA_DIR); every field the library asks for is in its raw torrent-get
answer; getAllData's labels list "ctrl-label" with count 1; getTorrent(hash)
is that torrent; getSession has an rpc-version >= 14. A wrong password makes
the library fail (node exits non-zero).
"""
import json
import os
import shutil
import subprocess

from tools_shared import HERE, Args, add_all, check, of, run_main

# @ctrl/transmission 7.4.0's listTorrents() fields.
FIELDS = sorted("""id addedDate creator doneDate comment name totalSize error errorString eta etaIdle isFinished
isStalled isPrivate files fileStats hashString leftUntilDone metadataPercentComplete peers peersFrom peersConnected
peersGettingFromUs peersSendingToUs percentDone queuePosition rateDownload rateUpload secondsDownloading secondsSeeding
recheckProgress seedRatioMode seedRatioLimit seedIdleLimit sizeWhenDone status trackers downloadDir downloadLimit
downloadLimited uploadedEver downloadedEver corruptEver uploadRatio webseedsSendingToUs haveUnchecked haveValid
honorsSessionLimits manualAnnounceTime activityDate desiredAvailable labels magnetLink maxConnectedPeers peer-limit
priorities wanted webseeds""".split())


def node_run(a, password, h):
    node = shutil.which("node")
    check(node, "node not installed")
    base = "http://%s:%d/" % (a.host, a.port)
    return subprocess.run([node, os.path.join(HERE, "tools_ctrl.mjs"), base, a.path, a.user, password, h],
                          capture_output=True, text=True, timeout=120)


def main():
    a = Args()
    rpc = of(a)
    ids = add_all(rpc, a.torrents, a.data_dir)
    labelled = a.torrents[0]
    rpc.call("torrent-set", ids=[ids[labelled.hash]], labels=["ctrl-label"])

    bad = node_run(a, "wrong-" + a.password, labelled.hash)
    check(bad.returncode != 0, "a wrong password: node exit 0: %s" % bad.stdout[:500])
    p = node_run(a, a.password, labelled.hash)
    check(p.returncode == 0, "node tools_ctrl.mjs: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    out = json.loads(p.stdout)
    print(json.dumps(out["torrents"], indent=1)[:3000])
    got = {t["id"]: t for t in out["torrents"]}
    check(sorted(got) == sorted(t.hash for t in a.torrents),
          "getAllData ids %s, want the info hashes %s" % (sorted(got), sorted(t.hash for t in a.torrents)))
    for t in a.torrents:
        x = got[t.hash]
        want = {"name": t.name, "state": "seeding", "progress": 1, "isCompleted": True, "totalSize": t.size}
        for k, v in want.items():
            check(x.get(k) == v, "%s: %s %r, want %r" % (t.name, k, x.get(k), v))
        check(x["savePath"].rstrip("/") == a.data_dir.rstrip("/"), "%s: savePath %r" % (t.name, x["savePath"]))
    for fields in out["rawFields"]:
        missing = [f for f in FIELDS if f not in fields]
        check(not missing, "torrent-get answered without %s" % missing)
    check(got[labelled.hash].get("label") == "ctrl-label", "label %r" % got[labelled.hash].get("label"))
    check(out["labels"] == [{"id": "ctrl-label", "name": "ctrl-label", "count": 1}], "labels %r" % out["labels"])
    check(out["one"]["id"] == labelled.hash and out["one"]["name"] == labelled.name, "getTorrent: %r" % out["one"])
    rv = out["session"].get("rpc-version")
    check(isinstance(rv, int) and rv >= 14, "getSession rpc-version %r" % rv)
    print("PASS tools_ctrl")


if __name__ == "__main__":
    run_main(main)

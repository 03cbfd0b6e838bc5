#!/usr/bin/env python3
"""Compares two shape documents written by shapes.py.

  compare_shapes.py A.json B.json ALLOWED.json

A is the reference (e.g. reference-qbittorrent-4.5.2.json), B the server
under test. Every call of A must be in B with the same status, content type,
text class and, for JSON, the same keys with the same JSON types, and B may
have no extra keys — except the differences ALLOWED.json lists, each with a
reason. Rules:
  - an empty array on either side matches any array (which torrents a filter
    lists is behaviour, asserted by the scripts, not shape);
  - a call recorded "partial" (sync deltas, whose content depends on timing)
    compares only the keys both sides have;
  - a leaf type "x|y" (several types seen) matches when the two sides share one.

ALLOWED.json: {"allowed": [{"call": GLOB, "kind": KIND, "path": GLOB,
"reason": "…"}]} with KIND one of missing-call, extra-call, status,
content_type, text, added (key only in B), removed (key only in A), type;
GLOBs are fnmatch patterns ("path" defaults to "*"). Exit 0 when every
difference is allowed, 1 with the differences listed otherwise.
"""
import fnmatch
import json
import sys


def diff_shape(a, b, path, partial, out):
    if isinstance(a, list) and isinstance(b, list):
        if a and b:
            diff_shape(a[0], b[0], path + "[]", partial, out)
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = (path + "." + k) if path else k
            if k not in b:
                if not partial:
                    out.append(("removed", p, "key only in A (%s)" % describe(a[k])))
            elif k not in a:
                if not partial:
                    out.append(("added", p, "key only in B (%s)" % describe(b[k])))
            else:
                diff_shape(a[k], b[k], p, partial, out)
        return
    if isinstance(a, str) and isinstance(b, str) and set(a.split("|")) & set(b.split("|")):
        return
    if a != b:
        out.append(("type", path or "<root>", "%s in A, %s in B" % (describe(a), describe(b))))


def describe(s):
    if isinstance(s, dict):
        return "object"
    if isinstance(s, list):
        return "array"
    return str(s)


def differences(A, B):
    out = []  # (call, kind, path, message)
    ca, cb = A["calls"], B["calls"]
    for name in ca:
        if name not in cb:
            out.append((name, "missing-call", "", "call missing in B"))
    for name in cb:
        if name not in ca:
            out.append((name, "extra-call", "", "call only in B"))
    for name, a in ca.items():
        b = cb.get(name)
        if b is None:
            continue
        if a["status"] != b["status"]:
            out.append((name, "status", "", "status %s in A, %s in B" % (a["status"], b["status"])))
        if a["content_type"].replace(" ", "").lower() != b["content_type"].replace(" ", "").lower():
            out.append((name, "content_type", "", "%r in A, %r in B" % (a["content_type"], b["content_type"])))
        for key in ("text", "body"):
            if a.get(key) != b.get(key):
                out.append((name, "text", "", "%s %r in A, %r in B" % (key, a.get(key), b.get(key))))
        if "shape" in a or "shape" in b:
            if "shape" not in a or "shape" not in b:
                out.append((name, "type", "<root>", "JSON only on one side"))
                continue
            found = []
            diff_shape(a["shape"], b["shape"], "", a.get("partial") or b.get("partial"), found)
            out.extend((name, kind, path, msg) for kind, path, msg in found)
    return out


def allowed_by(rules, call, kind, path):
    for r in rules:
        if r["kind"] == kind and fnmatch.fnmatchcase(call, r["call"]) \
                and fnmatch.fnmatchcase(path, r.get("path", "*")):
            return r
    return None


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    A, B = (json.load(open(p)) for p in argv[:2])
    # One or more ALLOWED files: their lists are joined.
    rules = [r for p in argv[2:] for r in json.load(open(p))["allowed"]]
    for r in rules:
        if not r.get("reason"):
            sys.exit("ALLOWED entry without a reason: %s" % r)
    bad, ok = [], []
    for call, kind, path, msg in differences(A, B):
        r = allowed_by(rules, call, kind, path)
        line = "%-44s %-12s %-40s %s" % (call, kind, path, msg)
        (ok if r else bad).append(line + (("   [allowed: %s]" % r["reason"]) if r else ""))
    sa, sb = A.get("server", {}), B.get("server", {})
    print("A: %s (WebAPI %s)  B: %s (WebAPI %s)" % (sa.get("version"), sa.get("webapiVersion"),
                                                    sb.get("version"), sb.get("webapiVersion")))
    print("%d calls in A, %d in B; %d differences allowed, %d not" % (len(A["calls"]), len(B["calls"]), len(ok), len(bad)))
    if bad:
        print("\nDifferences NOT allowed (call, kind, path, what):")
        for line in bad:
            print("  " + line)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

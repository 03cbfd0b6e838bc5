#!/usr/bin/env python3
"""Compares two shape documents of trpc_shapes.py (A the reference, B the
server under test): tests/webui/compare_shapes.py's rules (same calls,
status, content type, text class, every JSON key with the same name and
JSON type; "partial" calls compare the keys both have; an empty array
matches any array; "x|y" leaves match when they share a type), plus the
headers that matter (X-Transmission-Session-Id on 409, WWW-Authenticate on
401): present in A only is a difference of kind "header", in B only
"header-added".

  compare.py A.json B.json [ALLOWED.json …]

ALLOWED.json: {"allowed": [{"call", "kind", "path", "reason"}]} (globs; kinds
missing-call, extra-call, status, content_type, text, added, removed, type,
header, header-added); every entry needs a reason. Exit 0 when every difference is
allowed, 1 listing the others. `--unused` also lists allowed entries that
matched nothing (stale ones).
"""
import json
import sys

import trpc_common  # noqa: F401  (puts tests/webui on sys.path)
from compare_shapes import allowed_by, differences


def header_differences(A, B):
    out = []
    for name, a in A["calls"].items():
        b = B["calls"].get(name)
        if b is None:
            continue
        ha, hb = set(a.get("headers", {})), set(b.get("headers", {}))
        for h in sorted(ha - hb):
            out.append((name, "header", h, "header only in A"))
        for h in sorted(hb - ha):
            out.append((name, "header-added", h, "header only in B"))
    return out


def compare(A, B, rules, label_a="A", label_b="B", out=print):
    """Prints the comparison; returns the list of differences not allowed."""
    for r in rules:
        if not r.get("reason"):
            raise SystemExit("ALLOWED entry without a reason: %s" % r)
    bad, ok, used = [], {}, set()
    for call, kind, path, msg in differences(A, B) + header_differences(A, B):
        r = allowed_by(rules, call, kind, path)
        msg = msg.replace(" in A", " in " + label_a).replace(" in B", " in " + label_b) \
                 .replace("only in A", "only in " + label_a).replace("only in B", "only in " + label_b)
        if r:
            used.add(id(r))
            ok.setdefault((kind, path, msg, r["reason"]), []).append(call)
        else:
            bad.append("%-36s %-12s %-48s %s" % (call, kind, path or "-", msg))
    n_ok = sum(len(v) for v in ok.values())
    sa, sb = A.get("server", {}), B.get("server", {})
    out("%s: %s (rpc %s)  %s: %s (rpc %s)" % (label_a, sa.get("version"), sa.get("rpc-version"),
                                              label_b, sb.get("version"), sb.get("rpc-version")))
    out("%d calls in %s, %d in %s; %d differences allowed, %d not"
        % (len(A["calls"]), label_a, len(B["calls"]), label_b, n_ok, len(bad)))
    for (kind, path, msg, reason), calls in sorted(ok.items()):
        out("  allowed  %-12s %-48s %s in %d call(s) (%s)   [%s]"
            % (kind, path or "-", msg, len(calls), ", ".join(calls[:3]) + (", …" if len(calls) > 3 else ""), reason))
    if bad:
        out("Differences NOT allowed (call, kind, key path, what):")
        for line in bad:
            out("  BAD      " + line)
    return bad, [r for r in rules if id(r) not in used]


def main(argv):
    unused_flag = "--unused" in argv
    argv = [x for x in argv if x != "--unused"]
    if len(argv) < 2:
        sys.exit(__doc__)
    A, B = (json.load(open(p)) for p in argv[:2])
    rules = [r for p in argv[2:] for r in json.load(open(p))["allowed"]]
    bad, unused = compare(A, B, rules)
    if unused_flag:
        for r in unused:
            print("  unused allowed entry: %s" % json.dumps(r))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

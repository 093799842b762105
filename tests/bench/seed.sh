#!/bin/sh
# tests/bench/seed.sh - what `make bench-seed` runs: warren side by side with
# the design's plain Go version (../shared/seed-go/, see its README.md), in
# one run, through the same script (seed-go/measure.sh: same loads, ports,
# private RabbitMQ node and nginx), then one table with the ratios.
#
# A benchmark, not a test: nothing is asserted. About 5 minutes per
# implementation; the machine should be otherwise idle (other builds and
# tests make every figure noisy).
#
# 1. seed-go/build.sh builds the Go binaries (golang-go and the two Go
#    libraries from Debian's packages; no module proxy) into $SEED_GO_OUT/bin;
# 2. measure.sh runs the Go baseline (results in $SEED_GO_OUT/results-go);
# 3. measure.sh runs warren's $BUILD/tasker, worker, middleman
#    (results in $SEED_GO_OUT/results-warren);
# 4. the table: wrk -c32 POST /task answered per second and tasks actually
#    stored per second (three runs), 200 x 1 MiB end to end with two workers
#    (three runs), 1000 small tasks at a WebSocket client, peak RSS.
#
# Environment: SEED_GO_DIR (default ../shared/seed-go beside the project),
# SEED_GO_OUT (default build/seed-go), BUILD (default build),
# SEED_ONLY=go|warren|table (one step: the table reads earlier results).
# Needs root (measure.sh runs nginx and RabbitMQ as root), and the ports
# measure.sh uses free: 5721, 25721, 18300-18302.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$root/$BUILD ;; esac
seed=${SEED_GO_DIR:-$root/../shared/seed-go}
[ -f "$seed/measure.sh" ] || { echo "bench-seed: no measure.sh in $seed (set SEED_GO_DIR)" >&2; exit 1; }
seed=$(cd "$seed" && pwd)
out=${SEED_GO_OUT:-$root/build/seed-go}
mkdir -p "$out"
out=$(cd "$out" && pwd)
export SEED_GO_OUT="$out"
only=${SEED_ONLY:-}
amqp=amqp://guest:guest@127.0.0.1:5721/

if [ -z "$only" ] || [ "$only" = go ]; then
	echo "=== building the Go baseline ($seed/build.sh)"
	sh "$seed/build.sh" || { echo "bench-seed: the Go build failed (see above)" >&2; exit 1; }
	echo "=== measuring the Go baseline"
	RES=$out/results-go RUN=$out/run-go bash "$seed/measure.sh" > "$out/measure-go.out" 2>&1 ||
		echo "bench-seed: measure.sh (Go) exited $?; see $out/measure-go.out" >&2
fi
if [ -z "$only" ] || [ "$only" = warren ]; then
	for p in tasker worker middleman; do
		[ -x "$BUILD/$p" ] || { echo "bench-seed: $BUILD/$p is not built" >&2; exit 1; }
	done
	echo "=== measuring warren ($BUILD)"
	TASKER_CMD="$BUILD/tasker --listen 127.0.0.1:18300 --amqp $amqp" \
	WORKER_CMD="$BUILD/worker --amqp $amqp --dir" \
	MIDDLEMAN_CMD="$BUILD/middleman --listen 127.0.0.1:18302 --amqp $amqp" \
	RES=$out/results-warren RUN=$out/run-warren bash "$seed/measure.sh" \
		> "$out/measure-warren.out" 2>&1 ||
		echo "bench-seed: measure.sh (warren) exited $?; see $out/measure-warren.out" >&2
fi

exec /usr/bin/python3 - "$out/results-go" "$out/results-warren" <<'EOF'
import json, os, re, sys

def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""

def jsons(path):
    out = []
    for line in read(path).splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out

def figures(res):
    f = {}
    wrk = read(os.path.join(res, "wrk.txt"))
    f["answered"] = [float(x) for x in re.findall(r"run \d+: ([\d.]+) req/s answered", wrk)]
    f["stored"] = [float(x) for x in re.findall(r"\((\d+) stored/s from the start", wrk)]
    # 202s per second of wrk: for an implementation whose 202 waits for the
    # broker's confirm, each is a task stored when wrk counted it
    f["confirmed"] = []
    for run in (1, 2, 3):
        out = read(os.path.join(res, "wrk%d.txt" % run))
        m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
        if not m:
            continue
        secs = float(m.group(2)) * (60 if m.group(3) == "m" else 1)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        f["confirmed"].append((int(m.group(1)) - (int(bad.group(1)) if bad else 0)) / secs)
    e2e = [j for j in jsons(os.path.join(res, "e2e.json")) if "all_files_whole_s" in j]
    f["e2e"] = [j["all_files_whole_s"] for j in e2e]
    f["e2e_posted"] = [j["all_posted_s"] for j in e2e if "all_posted_s" in j]
    f["e2e_ok"] = [j.get("files_checksum_ok") for j in e2e]
    ws = [j for j in jsons(os.path.join(res, "tasks1000.json")) if "received" in j]
    f["ws"] = (ws[-1]["received"], ws[-1]["waited_seconds"]) if ws else None
    peak = {}
    for line in read(os.path.join(res, "rss.tsv")).splitlines()[1:]:
        c = line.split("\t")
        if len(c) > 3 and c[3].isdigit():
            role = "worker" if c[1] in ("w1", "w2") else c[1]
            peak[role] = max(peak.get(role, 0), int(c[3]))
    f["peak"] = peak
    return f

go, wa = figures(sys.argv[1]), figures(sys.argv[2])

def runs(v, fmt="%.0f"):
    return " / ".join(fmt % x for x in v) if v else "-"

def mid(v):
    return sorted(v)[len(v) // 2] if v else None

def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "-"

rows = [
    ("wrk -c32 POST /task, answered/s", runs(go["answered"]), runs(wa["answered"]),
     ratio(mid(wa["answered"]), mid(go["answered"])), "higher"),
    ("the same, tasks stored/s", runs(go["stored"]), runs(wa["stored"]),
     ratio(mid(wa["stored"]), mid(go["stored"])), "higher"),
    ("  202s/s, each a confirm (warren)", "no confirms", runs(wa["confirmed"]),
     ratio(mid(wa["confirmed"]), mid(go["stored"])), "higher"),
    ("200 x 1 MiB end to end, s", runs(go["e2e"], "%.2f"), runs(wa["e2e"], "%.2f"),
     ratio(mid(wa["e2e"]), mid(go["e2e"])), "lower"),
    ("  of which the 200 POSTs, s", runs(go["e2e_posted"], "%.2f"),
     runs(wa["e2e_posted"], "%.2f"),
     ratio(mid(wa["e2e_posted"]), mid(go["e2e_posted"])), "lower"),
]
def ws(f):
    return "%d in %.1f s" % f["ws"] if f["ws"] else "-"
rows.append(("1000 small tasks at a ws client", ws(go), ws(wa),
             ratio(wa["ws"][0], go["ws"][0]) if go["ws"] and wa["ws"] else "-", "higher"))
def mb(f, role):
    v = f["peak"].get(role)
    return "%.1f MB" % (v / 1024) if v else "-"
for role in ("tasker", "worker", "middleman"):
    rows.append(("peak RSS, " + role, mb(go, role), mb(wa, role),
                 ratio(wa["peak"].get(role), go["peak"].get(role)), "lower"))

w = [max(len(r[i]) for r in rows + [("load", "Go baseline", "warren", "warren/Go", "better")])
     for i in range(5)]
line = "%-*s | %*s | %*s | %*s | %s"
print(line % (w[0], "load", w[1], "Go baseline", w[2], "warren", w[3], "warren/Go", "better"))
for r in rows:
    print(line % (w[0], r[0], w[1], r[1], w[2], r[2], w[3], r[3], r[4]))
print("ratios of the medians of the runs; files whole with the right checksum per e2e run: Go %s, warren %s"
      % (go["e2e_ok"] or "-", wa["e2e_ok"] or "-"))
print("stored/s is measure.sh's: the queue's depth from rabbitmqctl once it stops growing, over the time"
      " from wrk's start to its last growth. A quorum queue (warren's `tasks`) reports its depth only at"
      " its leader's metrics tick (5 s in RabbitMQ 3.10), so its count trails by up to 5 s and the rate"
      " reads low; the row below it counts warren's 202s, each sent after the broker confirmed the task.")
print("results: %s, %s" % (sys.argv[1], sys.argv[2]))
EOF

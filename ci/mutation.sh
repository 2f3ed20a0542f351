#!/usr/bin/env bash
# Mutation score of lrkit's pure core (issue #30): mutmut on the schedules, the range-test rules (and the
# curve reading, when lrkit/rangetest/reading.py exists), the bench's spec and store, with their fast tests.
#
#   make mutation            (or: bash ci/mutation.sh [VENV])
#
# Runs in a scratch copy (build/mutation/: lrkit/, the fast tests, a pyproject.toml with the mutmut
# settings), so the working tree is never mutated. mutmut is installed into the venv on demand (it is not
# in [dev]: CI does not run this). One worker process, one torch thread: 3,091 mutants; measured ~1.3
# mutants/s with the machine half busy (~40 min), far slower while other jobs load both cores.
# MUTANTS='lrkit.schedules.*' bash ci/mutation.sh runs a subset (fnmatch patterns on mutant names).
# Outputs: build/mutation/summary.txt (counts and score) and build/mutation/survivors.txt (every
# surviving mutant's diff). Not a CI step; BENCHMARKS.md / docs quote its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
VENV="${1:-.venv}"
PY="$ROOT/$VENV/bin/python"
"$PY" -c "import mutmut" 2>/dev/null || "$PY" -m pip install --quiet "mutmut>=3.8,<4"

MUTATE=(lrkit/schedules/*.py lrkit/rangetest/rules.py lrkit/bench/spec.py lrkit/bench/store.py)
TESTS=(tests/schedules/test_schedules.py tests/schedules/test_schedules_modern.py tests/rangetest/test_finder.py
       tests/bench/test_store.py tests/bench/test_bench.py tests/bench/test_new_experiment.py)
if [ -f lrkit/rangetest/reading.py ]; then MUTATE+=(lrkit/rangetest/reading.py); fi
if [ -f tests/rangetest/test_reading.py ]; then TESTS+=(tests/rangetest/test_reading.py); fi

OUT="$ROOT/build/mutation"
rm -rf "$OUT"
mkdir -p "$OUT/tests"
cp -r lrkit "$OUT/lrkit"
find "$OUT/lrkit" -name __pycache__ -prune -exec rm -rf {} +
cp tests/conftest.py tests/ci_mode.py "$OUT/tests/"
for t in "${TESTS[@]}"; do
  mkdir -p "$OUT/$(dirname "$t")"
  cp "$t" "$OUT/$t"
  # helpers the test modules import from their own folder (e.g. tests/bench/resumable.py)
  for h in "$(dirname "$t")"/*.py; do case "$(basename "$h")" in test_*) ;; *) cp "$h" "$OUT/$h" ;; esac; done
done
toml_list() { local first=1; printf '['; for x in "$@"; do [ $first = 1 ] || printf ', '; printf '"%s"' "$x"; first=0; done; printf ']'; }
cat > "$OUT/pyproject.toml" <<EOF
[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["ignore::pytest.PytestUnknownMarkWarning"]

[tool.mutmut]
source_paths = ["lrkit"]
only_mutate = $(toml_list "${MUTATE[@]}")
pytest_add_cli_args_test_selection = $(toml_list "${TESTS[@]}")
# the bench's smoke runs need real CIFAR-10 and minutes: they guard the experiments, not spec/store
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-k", "not smoke_runs_and_reports"]
EOF
cd "$OUT"
export LRKIT_CI=1 LRKIT_TEST_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg  # derandomised Hypothesis
start=$(date +%s)
# shellcheck disable=SC2086  # MUTANTS: space-separated patterns, split on purpose
"$ROOT/$VENV/bin/mutmut" run --max-children 1 ${MUTANTS:-} > run.log 2>&1 || { tail -30 run.log; exit 1; }
seconds=$(( $(date +%s) - start ))
"$ROOT/$VENV/bin/mutmut" results --all true > results.txt 2>&1 || true
"$PY" - "$seconds" "$ROOT/$VENV/bin/mutmut" <<'PYEOF'
import re, subprocess, sys
from collections import Counter
seconds = int(sys.argv[1])
status = {}
for line in open("results.txt"):
    m = re.match(r"\s*(\S+): (.+)$", line)
    if m:
        status[m.group(1)] = m.group(2).strip()
counts = Counter(status.values())
killed = counts.get("killed", 0) + counts.get("timeout", 0)
tested = sum(v for k, v in counts.items() if k not in ("skipped", "not checked"))
lines = [f"mutants: {len(status)} ({dict(sorted(counts.items()))})",
         f"score: {killed}/{tested} = {100 * killed / max(tested, 1):.1f} % killed (timeouts count as killed)",
         f"wall time: {seconds} s (1 worker, 1 torch thread)"]
open("summary.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
with open("survivors.txt", "w") as f:
    for name, s in sorted(status.items()):
        if s in ("survived", "no tests", "suspicious"):
            diff = subprocess.run([sys.argv[2], "show", name], capture_output=True, text=True).stdout
            f.write(f"### {name} ({s})\n{diff}\n")
PYEOF
echo "survivors: $OUT/survivors.txt"

#!/usr/bin/env bash
# The whole test suite while one CPU burner per core keeps the machine busy (issue 16's check):
# a crash of the test process shows as no summary line, and its core's native stack is printed.
#
#   scripts/suite_under_load.sh [pytest args]
set -uo pipefail
cd "$(dirname "$0")/.."
./dev --version >/dev/null 2>&1 || true   # bootstrap .venv like ./dev test does
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
ulimit -c unlimited 2>/dev/null || true
rm -f core core.[0-9]*
burners=()
for _ in $(seq "$(nproc)"); do
    python3 -c 'while True: pass' &
    burners+=($!)
done
trap 'kill "${burners[@]}" 2>/dev/null' EXIT
start=$(date +%s)
timeout 3600 .venv/bin/python -X faulthandler -m pytest -q -p no:cacheprovider "$@"
rc=$?
echo "suite_under_load: rc=$rc in $(( $(date +%s) - start )) s with ${#burners[@]} burners"
for core in core core.[0-9]*; do
    [ -f "$core" ] && command -v gdb >/dev/null && gdb -batch -ex "thread apply all bt 40" .venv/bin/python "$core"
done
exit $rc

#!/usr/bin/env bash
# Build, then run every compiled test (dist/test/**/*.test.js) under tap.
#   bash scripts/test.sh           the regular suite (everything but dist/test/slow/)
#   bash scripts/test.sh --slow    only the slow tests (dist/test/slow/: the 2^32
#                                  index wrap-around, tens of minutes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

slow=0
for arg in "$@"; do
	case $arg in
	--slow) slow=1 ;;
	*)
		echo "test: error: unknown argument $arg (only --slow)" >&2
		exit 2
		;;
	esac
done

bash scripts/build.sh

out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
if [ "$slow" = 1 ]; then
	mapfile -t files < <(find dist/test/slow -name '*.test.js' | sort)
	timeout=14400
else
	mapfile -t files < <(find dist/test -name '*.test.js' -not -path 'dist/test/slow/*' | sort)
	timeout=900
fi
# One test file at a time: the dump/restore stress tests checkpoint busy
# processes at random moments and must not compete for the 2 cores with
# another file's busy processes (a dump under that load has failed with
# CRIU's "Unable to detach", not yet understood: see the closing note).
npx tap --disable-coverage --jobs=1 --timeout="$timeout" "${files[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
set -e

# tap closes with "# { total: N, pass: N, fail: N, ... }"; repeat it as a
# plain "N passed, N failed" line that any CI log reader understands.
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
const last = lines.filter((l) => /^# \{ total: \d+/.test(l)).pop();
if (!last) { console.log("tests: tap printed no summary"); process.exit(0); }
const get = (k) => Number((new RegExp(k + ": (\\d+)").exec(last) || [0, 0])[1]);
let s = `tests: ${get("pass")} passed, ${get("fail")} failed`;
if (get("skip") + get("todo")) s += `, ${get("skip") + get("todo")} skipped`;
console.log(s);
' "$out"
exit "$rc"

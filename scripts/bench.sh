#!/usr/bin/env bash
# Build, then run the benchmarks in bench/ (figures go into the README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
node dist/bench/run.js
node dist/bench/startup.js
node dist/bench/restore.js
node dist/bench/scale.js
node dist/bench/apps.js
node dist/bench/servers.js

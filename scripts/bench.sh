#!/usr/bin/env bash
# Build, then run the benchmarks in bench/ (figures go into the README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/build.sh
# As the plugin starts its helper (plugin-c/helper.c) and the tests run:
# Node parses every certificate NODE_EXTRA_CA_CERTS names before running
# anything (about 70 ms per start with a distribution's CA bundle), and
# nothing here speaks TLS.
unset NODE_EXTRA_CA_CERTS
node dist/bench/run.js
node dist/bench/startup.js
node dist/bench/restore.js
node dist/bench/scale.js
node dist/bench/apps.js
node dist/bench/servers.js

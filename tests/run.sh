#!/usr/bin/env bash
# Runs Pluto's whole test suite on a fresh machine: installs what the tests need, then runs them.
#
#   bash tests/run.sh                 # everything
#   bash tests/run.sh -p pluto-paf    # extra arguments go to `cargo test`
#
# Needs only rustup (https://rustup.rs); the toolchain, its components and the wasm32-wasip2
# target come from rust-toolchain.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found: install rustup from https://rustup.rs, then run this again" >&2
  exit 2
fi
# Installs the pinned toolchain with its components and targets (instant when present).
if command -v rustup >/dev/null; then
  rustup toolchain install >/dev/null
fi

# The state tests use real servers: PostgreSQL and Redis on their standard local ports (started
# here when they are installed but not running), and moto, an S3-compatible server from PyPI,
# installed once into a virtual environment outside the clone (with the other Python programs the
# tests use, tests/requirements.txt).
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  echo "starting PostgreSQL" >&2
  (service postgresql start || pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | tail -1)" main start) >/dev/null 2>&1 || true
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "starting Redis" >&2
  (service redis-server start || redis-server --daemonize yes) >/dev/null 2>&1 || true
fi
venv="${PLUTO_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/pluto-test-venv}"
# Installs requirements file $2 into virtual environment $1, unless it already holds exactly that.
python_env() {
  if ! cmp -s "$2" "$1/.pluto-requirements" 2>/dev/null; then
    echo "installing the tests' Python programs ($2) into $1" >&2
    python3 -m venv "$1"
    "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
    cp "$2" "$1/.pluto-requirements"
  fi
}
python_env "$venv" tests/requirements.txt
# The Agent Protocol client pins pydantic 1, which a2a-sdk does not allow: its own environment.
ap_venv="${venv}-ap"
python_env "$ap_venv" tests/requirements-ap.txt
# schemathesis, which checks pluto serve against its OpenAPI document: an environment of its own.
st_venv="${venv}-st"
python_env "$st_venv" tests/requirements-schemathesis.txt
# The official MCP servers the MCP tests run, from npm, into tests/mcp (not globally).
if ! command -v npm >/dev/null; then
  echo "error: npm not found: the MCP tests need Node.js and npm (https://nodejs.org)" >&2
  exit 2
fi
if ! cmp -s tests/mcp/package-lock.json tests/mcp/node_modules/.pluto-lock 2>/dev/null; then
  echo "installing the MCP servers the tests use (tests/mcp/package.json)" >&2
  npm ci --prefix tests/mcp --no-audit --no-fund --loglevel=error
  cp tests/mcp/package-lock.json tests/mcp/node_modules/.pluto-lock
fi
export PLUTO_MOTO_SERVER="$venv/bin/moto_server" PLUTO_TEST_PYTHON="$venv/bin/python" \
  PLUTO_TEST_AP_PYTHON="$ap_venv/bin/python" PLUTO_TEST_SCHEMATHESIS="$st_venv/bin/schemathesis"

cargo test --workspace --locked "$@"

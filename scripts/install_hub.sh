#!/bin/sh
# What a room's JupyterHub needs besides the lab (`make hub` and the room test run it; each step only once):
# - its proxy, configurable-http-proxy, from the npm registry, into .lab/hub/;
# - an environment the learners' servers run in: the lab's own when every user may run its Python, else one
#   made from the system's python3 in .lab/hub/env (a Python under /root, as pyenv puts it, is root's alone).
# Usage: install_hub.sh LAB_PYTHON     (the lab's environment's python)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
hub=$root/.lab/hub
mkdir -p "$hub"
if [ ! -x "$hub/node_modules/.bin/configurable-http-proxy" ]; then
    command -v npm >/dev/null || { echo "install_hub: npm is missing: install Node.js and npm, then run again" >&2; exit 1; }
    npm install --prefix "$hub" --no-audit --no-fund --loglevel=error configurable-http-proxy@5 >/dev/null
fi
real=$("$1" -c 'import os, sys; print(os.path.realpath(sys.executable))')
everyone() {  # every folder above the file lets others in, and the file lets them run it
    path=$1
    [ -x "$path" ] && [ "$(stat -c %A "$path" | cut -c10)" = x ] || return 1
    while [ "$path" != / ]; do
        path=$(dirname "$path")
        [ "$(stat -c %A "$path" | cut -c10)" = x ] || return 1
    done
}
if everyone "$real"; then
    ln -sfn "$(dirname "$(dirname "$1")")" "$hub/env"
elif [ ! -x "$hub/env/bin/jupyterhub-singleuser" ]; then
    rm -rf "$hub/env"
    /usr/bin/python3 -m venv "$hub/env"
    "$hub/env/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
    "$hub/env/bin/python" -m pip install --quiet -e "$root[lab]" "jupyterhub>=5.3,<7" 2>&1 | grep -v "is ignored" || true
    sh "$root/scripts/install_jupyter_config.sh" "$hub/env/bin/python"
fi
"$hub/env/bin/python" -c "import helpers, jupyterhub" || { echo "install_hub: the learners' environment is broken" >&2; exit 1; }

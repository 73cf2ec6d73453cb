#!/bin/sh
# The lab's JupyterLab settings, where that environment's JupyterLab and server read them (not /etc/jupyter,
# which a JupyterHub replaces with its own): no news pop-up or update check, and no test plumbing
# (conftest.py, recordings) in the file browser.
# Usage: install_jupyter_config.sh PYTHON   (the environment's python: .venv/bin/python, or the image's)
set -eu
here=$(dirname "$0")/../jupyter
app=$("$1" -c 'from jupyterlab.commands import get_app_dir; print(get_app_dir())')
etc=$("$1" -c 'import os, sys; print(os.path.join("/usr/local" if sys.prefix == "/usr" else sys.prefix, "etc/jupyter"))')
mkdir -p "$app/settings" "$etc"
cp "$here/overrides.json" "$app/settings/overrides.json"
cp "$here/jupyter_server_config.json" "$etc/jupyter_server_config.json"  # (a .d folder holds extensions' switches only)

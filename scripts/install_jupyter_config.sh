#!/bin/sh
# The lab's JupyterLab settings, in the environment's own prefix (not /etc/jupyter, which a hub replaces):
# no news pop-up or update check, and no test plumbing (conftest.py, recordings) in the file browser.
# Usage: install_jupyter_config.sh PREFIX   (a virtualenv, or the image's Python prefix)
set -eu
here=$(dirname "$0")/../jupyter
mkdir -p "$1/share/jupyter/lab/settings" "$1/etc/jupyter/jupyter_server_config.d"
cp "$here/overrides.json" "$1/share/jupyter/lab/settings/overrides.json"
cp "$here/jupyter_server_config.json" "$1/etc/jupyter/jupyter_server_config.d/layer-lab.json"

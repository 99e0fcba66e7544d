#!/usr/bin/env bash
# Open every committed notebook in JupyterLab in a headless Chromium, let its kernel start, wait, and report whether
# JupyterLab marks it modified ("unsaved") with no user action. A notebook whose stored kernelspec or metadata
# differs from what the running kernel reports turns dirty a few seconds after it opens.
#
#   bash scripts/check_notebooks_in_browser.sh [notebooks/NN_name.ipynb ...]   # default: every notebook
#
# Needs JupyterLab (the `lab` extra), Chromium and Node.js 20+ on the PATH. Prints one line per notebook and exits
# 1 if any notebook turned dirty. Runs a JupyterLab server on port 8899 and Chromium on 9333 while it runs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../notebooks"
if [ $# -eq 0 ]; then set -- *.ipynb; else set -- "${@##*/}"; fi
jupyter lab --no-browser --port 8899 --IdentityProvider.token='' --ServerApp.password='' --allow-root > /tmp/check_lab.log 2>&1 &
lab=$!
chromium --headless=new --no-sandbox --disable-gpu --remote-debugging-port=9333 about:blank > /tmp/check_chromium.log 2>&1 &
browser=$!
trap 'kill $lab $browser 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do curl -s -o /dev/null http://127.0.0.1:8899/lab && curl -s -o /dev/null http://127.0.0.1:9333/json && break; sleep 1; done
node --experimental-websocket --no-warnings "$here/check_notebooks_in_browser.js" "$@"

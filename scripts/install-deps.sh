#!/usr/bin/env bash
# Installs what cbm-ingest needs to build and test, if it is missing:
# libmosquitto-dev, zlib1g-dev and libsqlite3-dev (to build), mosquitto and mosquitto-clients (tests, demo), openssl (TLS
# tests), util-linux (prlimit, for the write-error test), gnumeric (ssconvert: a spreadsheet parser
# for the CSV test), prometheus (promtool and a real Prometheus for the metrics tests), chromium and
# chromium-driver (the status page's browser test), curl, and from PyPI pysparkplug (a real Sparkplug B
# edge node for its tests) and selenium (drives the browser).
set -euo pipefail
missing=()
pkg-config --exists libmosquitto 2>/dev/null || missing+=(libmosquitto-dev pkg-config)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
pkg-config --exists zlib 2>/dev/null || missing+=(zlib1g-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v ssconvert >/dev/null 2>&1 || missing+=(gnumeric)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)  # the page's Chinese labels in the screenshot
pip_install() {
  python3 -c "import $1" 2>/dev/null && return 0
  echo "installing: $2 (PyPI)" >&2
  python3 -m pip install --quiet "$2" 2>/dev/null || python3 -m pip install --quiet --break-system-packages "$2"
}
sparkplug() {
  pip_install pysparkplug pysparkplug==0.6.1
  pip_install selenium selenium==4.51.0
}
if [ ${#missing[@]} -eq 0 ]; then sparkplug; exit 0; fi
echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
sparkplug

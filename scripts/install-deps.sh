#!/usr/bin/env bash
# Installs what cbm-ingest needs to build and test, if it is missing:
# libmosquitto-dev, zlib1g-dev and libsqlite3-dev (to build), mosquitto and mosquitto-clients (tests, demo), openssl (TLS
# tests), util-linux (prlimit, for the write-error test), gnumeric (ssconvert: a spreadsheet parser
# for the CSV test), and pysparkplug from PyPI (a real Sparkplug B edge node for its tests).
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
sparkplug() {
  python3 -c 'import pysparkplug' 2>/dev/null && return 0
  echo "installing: pysparkplug 0.6.1 (PyPI)" >&2
  python3 -m pip install --quiet pysparkplug==0.6.1 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages pysparkplug==0.6.1
}
if [ ${#missing[@]} -eq 0 ]; then sparkplug; exit 0; fi
echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
sparkplug

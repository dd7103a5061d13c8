#!/bin/sh
# Installs the Debian packages that bench/ needs (the list is packages.txt, beside this
# file), as root or through sudo. Safe to run again: apt-get skips what is installed.
#   bash bench/peers/install.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^[[:space:]]*#' "$here/packages.txt" | tr -s '[:space:]' ' ')
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
# DEBIAN_FRONTEND keeps tzdata and friends from asking questions on a fresh machine.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs
/usr/bin/python3 -c 'import sklearn, pandas, flask; print("python3:", "sklearn", sklearn.__version__, "pandas", pandas.__version__, "flask", flask.__version__)'

#!/usr/bin/env bash
# Installs every system package Porthole builds, runs and tests with (Debian 12).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

PACKAGES=(
  # X server that can change size, and the apps of the default image / benchmarks
  xserver-xorg-core xserver-xorg-video-dummy x11-xserver-utils x11-utils
  xterm ffmpeg fonts-dejavu-core
  # codecs built from source by cargo (openh264's assembly)
  cmake nasm
  # SAML signatures: samael builds on libxmlsec1 and OpenSSL (bindgen needs libclang)
  libxmlsec1-dev libssl-dev libclang-dev pkg-config
  # sandboxing; slirp4netns gives sandboxes with internet access a private, NATed
  # network of their own (no route to the host's loopback services)
  bubblewrap slirp4netns
  # browser tests and benchmarks (driven by playwright-core from npm)
  chromium
  # test tools (dpkg-scanpackages: the apt repository the image builder tests install from)
  xdotool xclip procps dpkg-dev
  # control-plane database for the PostgreSQL store tests (scripts/start-postgres.sh)
  postgresql
  # sandbox tests probe from inside with python3 (sockets, fork, allocation)
  python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node packages for the browser tests and the benchmark (never a downloaded browser).
cd "$(dirname "$0")/.."
# Reinstalled when package-lock.json changed since the last install.
if ! cmp -s package-lock.json node_modules/.porthole-lock; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent
  cp package-lock.json node_modules/.porthole-lock
fi

# s3s-fs, a real S3-compatible server (on a directory), for the home-folder tests on S3.
# Built once from crates.io into /var/tmp (kept between runs); pinned.
S3S_FS_VERSION=0.14.1
TOOLS="${PORTHOLE_TEST_TOOLS:-/var/tmp/porthole-tools}"
if [ "$(cat "$TOOLS/.s3s-fs" 2>/dev/null)" != "$S3S_FS_VERSION" ]; then
  cargo install --quiet --locked "s3s-fs@$S3S_FS_VERSION" --features binary --root "$TOOLS"
  echo "$S3S_FS_VERSION" > "$TOOLS/.s3s-fs"
fi

# Python packages for the admin-API tests (tests/api): signxml (SAML responses signed by
# the test), the newest boto3/botocore (the
# rpcv2Cbor client; the AWS CLI's own botocore speaks awsJson1_1) and a WebSocket client,
# in their own directory so that the AWS CLI keeps its pinned botocore. Pinned; reinstalled
# only when a pin changes.
# The AWS CLI (v1: it speaks awsJson1_1 to AppStream) is the tests' JSON client.
command -v aws >/dev/null || python3 -m pip install --quiet --disable-pip-version-check \
  --root-user-action=ignore awscli==1.45.11
PYDEPS="${PORTHOLE_TEST_PYDEPS:-/var/tmp/porthole-pydeps}"
PY_PINS=(boto3==1.44.8 botocore==1.44.8 websocket-client==1.9.2 aiosmtpd==1.4.6 signxml==5.2.0)
if [ "$(cat "$PYDEPS/.pins" 2>/dev/null)" != "${PY_PINS[*]}" ]; then
  rm -rf "$PYDEPS"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore \
    --target "$PYDEPS" "${PY_PINS[@]}"
  echo "${PY_PINS[*]}" > "$PYDEPS/.pins"
fi

#!/usr/bin/env bash
# build.sh OUTDIR: builds teed's rig TA with OP-TEE's TA dev kit and writes OUTDIR/<uuid>.ta,
# signed with the kit's default key (the one the rig's OP-TEE accepts).
#
#   TEED_OPTEE_RIG=DIR    the rig (default: the repository's ../shared/optee-rig)
#   TEED_RIG_TA_WORK=DIR  where the kit is unpacked and the TA built (default:
#                         build/real-optee/rig-ta in the repository); kept between runs
#
# As root it installs what is missing (gcc-aarch64-linux-gnu, make, python3-cryptography,
# python3-pyelftools); otherwise it says what to install and fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
uuid=767b0e2b-f3ae-4c71-96f7-4bc4bc548a8b

die() {
  printf 'rig-ta: %s\n' "$*" >&2
  exit 1
}

[ $# -eq 1 ] || die "usage: ${0##*/} OUTDIR"
mkdir -p "$1"
outdir=$(cd "$1" && pwd)
rig=${TEED_OPTEE_RIG:-$repo/../shared/optee-rig}
kit_archive=$rig/ta-dev-kit-arm64.tar.xz
[ -f "$kit_archive" ] || die "no TA dev kit at $kit_archive (set TEED_OPTEE_RIG=DIR)"
work=${TEED_RIG_TA_WORK:-$repo/build/real-optee/rig-ta}

# The dev kit's scripts need Debian's python3 modules, which another python3 earlier in PATH
# (a virtualenv, pyenv) lacks: use Debian's interpreter.
python=/usr/bin/python3
packages=(gcc-aarch64-linux-gnu make python3 python3-cryptography python3-pyelftools xz-utils)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
  fi
  echo "rig-ta: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
"$python" -c 'import cryptography, elftools' || die "$python lacks cryptography or elftools"

# Unpack the kit once per archive (its digest names the copy).
digest=$(sha256sum "$kit_archive" | cut -c1-16)
kit=$work/kit-$digest/export-ta_arm64
if [ ! -f "$kit/mk/ta_dev_kit.mk" ]; then
  rm -rf "$work/kit-$digest.tmp"
  mkdir -p "$work/kit-$digest.tmp"
  tar -C "$work/kit-$digest.tmp" -xJf "$kit_archive"
  [ -f "$work/kit-$digest.tmp/export-ta_arm64/mk/ta_dev_kit.mk" ] || die "$kit_archive holds no export-ta_arm64"
  rm -rf "$work/kit-$digest"
  mv "$work/kit-$digest.tmp" "$work/kit-$digest"
fi

# Objects go to $work/out; the source folder stays clean.
make -C "$here" -j2 --no-print-directory \
  CROSS_COMPILE=aarch64-linux-gnu- TA_DEV_KIT_DIR="$kit" PYTHON3="$python" \
  CFG_WERROR=y O="$work/out"

"$python" "$kit/scripts/sign_encrypt.py" verify --uuid "$uuid" \
  --in "$work/out/$uuid.ta" --key "$kit/keys/default_ta.pem" >/dev/null ||
  die "$uuid.ta does not verify with the kit's default key"
cp "$work/out/$uuid.ta" "$outdir/$uuid.ta.tmp"
mv "$outdir/$uuid.ta.tmp" "$outdir/$uuid.ta"
echo "rig-ta: $outdir/$uuid.ta"

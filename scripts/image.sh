#!/usr/bin/env bash
# The stages of the Dockerfile, as one plain script. The Dockerfile runs each
# stage with `RUN bash .../image.sh <stage>`; where an image cannot be built
# (CI, this repository's tests), `image.sh all WORK` runs the same stages in
# the same order on the host, into WORK (test/kernel/install-image.test.ts).
#
#   build-deps          Debian packages that build the BPF object and the addon
#   build SRC OUT       in the source tree SRC: npm ci, then npm pack into OUT
#                       (its prepack builds dist/, the addon and the BPF object)
#   runtime-deps        Debian packages the addon needs at run time
#   runtime OUT PREFIX  npm install -g of OUT's tarball into PREFIX, then check
#                       it: `alps --version`, the addon loads, `alps doctor`
#   all WORK            every stage above, in that order: the repository's files
#                       (what the Dockerfile's COPY sees, .dockerignore applied
#                       by git's ignore rules) copied to WORK/src, the tarball
#                       in WORK/out, the install in WORK/prefix
#
# The *-deps stages install only what is missing (nothing on a host that
# already builds alps), as root with apt-get.
set -euo pipefail

BUILD_PACKAGES=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3)
RUNTIME_PACKAGES=(libbpf1 libelf1 zlib1g)

apt_missing() { # package...: install those dpkg does not know as installed
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "image: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

stage_build() { # SRC OUT
  local src=$1 out=$2
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  cd "$src"
  npm ci --no-audit --no-fund --prefer-offline
  # The build stage has its packages already (build-deps): setup.sh must not add the test-only ones.
  ALPS_SKIP_SYSTEM_DEPS=1 npm pack --pack-destination "$out"
}

stage_runtime() { # OUT PREFIX
  local out=$1 prefix=$2
  local tarballs=("$out"/*.tgz)
  [ ${#tarballs[@]} -eq 1 ] && [ -f "${tarballs[0]}" ] || {
    echo "image: expected one tarball in $out, found: ${tarballs[*]}" >&2
    exit 1
  }
  npm install -g --prefix "$prefix" --omit=dev --no-audit --no-fund --prefer-offline "${tarballs[0]}"
  local alps=$prefix/bin/alps
  local root
  root=$(npm root -g --prefix "$prefix")/@alps-sched/alps
  "$alps" --version
  # The addon must load here: its shared libraries are what runtime-deps installs.
  node -e 'require(process.argv[1])' "$root/native/build/Release/alps_native.node"
  test -s "$root/native/build/alps.bpf.o"
  "$alps" doctor
}

run_stage() { # STAGE ARGS...: one stage, as the Dockerfile runs it
  case "${1:-}" in
    build-deps) apt_missing "${BUILD_PACKAGES[@]}" ;;
    build) stage_build "$2" "$3" ;;
    runtime-deps) apt_missing "${RUNTIME_PACKAGES[@]}" ;;
    runtime) stage_runtime "$2" "$3" ;;
    *)
      echo "usage: image.sh build-deps | build SRC OUT | runtime-deps | runtime OUT PREFIX | all WORK" >&2
      exit 2
      ;;
  esac
}

stage_all() { # WORK: the Dockerfile's stages in its order (test/deploy/dockerfile-stages.test.ts compares)
  local work=$1 repo
  repo=$(cd "$(dirname "$0")/.." && pwd)
  mkdir -p "$work/src"
  work=$(cd "$work" && pwd)
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$work/src"
  run_stage build-deps
  (run_stage build "$work/src" "$work/out")
  run_stage runtime-deps
  run_stage runtime "$work/out" "$work/prefix"
}

if [ "${1:-}" = "all" ]; then
  stage_all "$2"
else
  run_stage "$@"
fi

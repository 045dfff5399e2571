#!/bin/sh
# Installs what `npm run bench` uses beyond Node: nginx (the loopback server),
# wrk and h2load (ceiling rows), openssl (the run's self-signed certificate),
# GNU time (CPU and RSS of wrk/h2load). Installs only what is missing.
# As root it runs apt-get; otherwise it prints the command and exits 1.
set -eu

missing=""
need() { # need COMMAND PACKAGE
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
    missing="$missing $2"
  fi
}
need nginx nginx
need wrk wrk
need h2load nghttp2-client
need openssl openssl
[ -x /usr/bin/time ] || missing="$missing time"

if [ -z "$missing" ]; then
  echo "bench dependencies present: nginx wrk h2load openssl time"
  exit 0
fi

cmd="apt-get update && apt-get install -y$missing"
if [ "$(id -u)" -ne 0 ]; then
  echo "missing:$missing"
  echo "run as root:  sudo sh -c '$cmd'"
  exit 1
fi

# Debian starts the nginx service on port 80 when the package is installed.
# The benchmark runs its own nginx on loopback ports, so keep the system one
# from starting, with a policy-rc.d that is removed afterwards (only if this
# script created it).
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { [ -z "$created_policy" ] || rm -f "$policy"; }
trap cleanup EXIT

echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086  # $missing is a list of package names
apt-get install -y -qq $missing

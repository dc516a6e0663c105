#!/usr/bin/env bash
# Install and configure what `make map` needs to build and run the MAP without Docker: podman with runc,
# debootstrap for the base image. Idempotent; `make map` runs it every time. Needs root (or sudo) when
# something is missing.
#
# Why each setting (found on these machines, see docs/deploy.md):
# - runtime runc: podman's default crun fails in this kind of sandbox ("cgroups in hybrid mode not supported");
# - default_ulimits: the default file and process limits are refused by the sandbox's kernel. A --ulimit on the
#   command line replaces these defaults, so scripts/map_build.py repeats them when it adds the 64 MiB stack.
set -euo pipefail

PACKAGES="podman runc debootstrap uidmap fuse-overlayfs slirp4netns containernetworking-plugins"
CONF=/etc/containers/containers.conf.d/50-hccp53.conf
WANTED='[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
runtime = "runc"'

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    as_root=(false)
fi

missing=()
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    if ! command -v apt-get >/dev/null 2>&1 || [[ "${as_root[0]:-}" == false ]]; then
        echo "setup_containers: install ${missing[*]} as root (apt-get install), then rerun; or set" \
            "CONTAINER_ENGINE=docker where Docker runs." >&2
        exit 1
    fi
    echo "setup_containers: installing ${missing[*]} ..."
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$WANTED" ]]; then
    echo "setup_containers: writing $CONF (runtime runc, nofile/nproc limits)"
    "${as_root[@]}" mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$WANTED" | "${as_root[@]}" tee "$CONF" >/dev/null
fi
runtime=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || true)
if [[ "$runtime" != runc ]]; then
    echo "setup_containers: podman does not run (runtime '${runtime:-none}'); see 'podman info'." >&2
    exit 1
fi
echo "setup_containers: podman $(podman version --format '{{.Client.Version}}') with runc ready."

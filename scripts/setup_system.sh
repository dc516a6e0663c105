#!/usr/bin/env bash
# Install the Debian packages that the tests use as real peers. Idempotent: when everything is
# already there it prints one line and changes nothing. `make setup` runs it every time.
#
# To add a package: append it to SYSTEM_PACKAGES and, when the tests call a program from it,
# that program to REQUIRED_COMMANDS.
set -euo pipefail

# dicom3tools: dciodvfy (IOD validation of our SR/SEG); dcmtk: dcmdump, dsrdump (independent readers);
# R with pROC, rms and MASS: the reference statistics the golden tests of hccp53.stats are checked against;
# orthanc + orthanc-dicomweb: a real PACS on loopback for the `hccp53 serve` / pull / push round trips;
# pixelmed-apps: PixelMed's DicomSRValidator (TID 1500 template and context-group checks of our SR), which the
# tests run as `java -cp /usr/share/java/pixelmed.jar ...` (tests/conftest.py: the Debian wrapper script fails on
# Java 17's XPath limits); chromium + chromium-driver: the headless browser of the viewer test (OHIF).
SYSTEM_PACKAGES="dicom3tools dcmtk r-base-core r-cran-proc r-cran-rms r-cran-mass orthanc orthanc-dicomweb pixelmed-apps chromium chromium-driver"
REQUIRED_COMMANDS="dciodvfy dcmdump dsrdump Rscript Orthanc java DicomSRValidator chromium"

have_dpkg=false
command -v dpkg-query >/dev/null 2>&1 && have_dpkg=true
missing_packages=()
if $have_dpkg; then
    for pkg in $SYSTEM_PACKAGES; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        [[ "$status" == "install ok installed" ]] || missing_packages+=("$pkg")
    done
fi
missing_commands=()
for cmd in $REQUIRED_COMMANDS; do
    command -v "$cmd" >/dev/null 2>&1 || missing_commands+=("$cmd")
done

if [[ ${#missing_packages[@]} -eq 0 && ${#missing_commands[@]} -eq 0 ]]; then
    echo "setup_system: system packages already installed ($SYSTEM_PACKAGES); nothing to do."
    exit 0
fi
if [[ ${#missing_packages[@]} -eq 0 ]]; then
    if $have_dpkg; then
        echo "setup_system: ${missing_commands[*]} not on PATH although $SYSTEM_PACKAGES are" \
            "installed; fix REQUIRED_COMMANDS in $0 or your PATH." >&2
        exit 1
    fi
    # Without dpkg we cannot tell which package is missing: ask for all of them.
    read -r -a missing_packages <<<"$SYSTEM_PACKAGES"
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "setup_system: not root and no sudo: as root, run" \
        "'apt-get install ${missing_packages[*]}' (the tests need $REQUIRED_COMMANDS), then rerun." >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system: apt-get not found: install the Debian/Ubuntu packages" \
        "${missing_packages[*]} (or their equivalents providing $REQUIRED_COMMANDS), then rerun." >&2
    exit 1
fi

echo "setup_system: installing ${missing_packages[*]} ..."
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}"

for cmd in $REQUIRED_COMMANDS; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "setup_system: '$cmd' is still not on PATH after installing $SYSTEM_PACKAGES;" \
            "check REQUIRED_COMMANDS in $0." >&2
        exit 1
    fi
done
echo "setup_system: installed ${missing_packages[*]}."

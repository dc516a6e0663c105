"""Build and run the hccp53 MAP with podman (or Docker), from local images only: no registry is asked.

    python scripts/map_build.py base              # the base image, once: Debian bookworm from debootstrap
    python scripts/map_build.py package           # the MAP: `monai-deploy package` with its own template
    python scripts/map_build.py run STUDY OUT     # run it as a MAP runner does: no network, input read-only

`make map` runs the first two, `make map-run STUDY=... OUT=...` the third. Why a wrapper: holoscan-cli 4.2's
packager builds through `docker buildx` and renders a Dockerfile for NVIDIA's Ubuntu 24.04 CUDA images (it
downloads NVIDIA's apt keyring and pins Ubuntu's Python 3.12). Here the packager still does everything it
does (application folder, models, app.json, pkg.json, the `tools` entrypoint, the /opt/holoscan and
/var/holoscan layout, its Dockerfile template); only the build itself is replaced: the rendered Dockerfile
loses the keyring download and the Ubuntu version pins (see ``adapt_dockerfile``) and is built by podman
with ``--network host`` and the machine's local wheel folders mounted read-only (so that torch==2.13.0
resolves to the CPU wheel, as on the host). The edited Dockerfile is kept in build/map/Dockerfile.

Needs: scripts/setup_containers.sh (podman, runc, debootstrap and their configuration), root for debootstrap.
"""

from __future__ import annotations

import argparse
import compileall
import configparser
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "map"
ROOTFS_IMAGE = "localhost/hccp53-map-rootfs:bookworm"
BASE_IMAGE = "localhost/hccp53-map-base:bookworm"
BASE_PYTHON = "3.11"  # Debian bookworm's python3
# what a MAP runner gives the container (holoscan run: nofile/nproc of this machine's containers.conf, and the
# 64 MiB stack that `holoscan run` sets; a --ulimit replaces the configured defaults, so all are repeated)
STACK = 64 * 2**20


def _stack_limit() -> int:
    """64 MiB, or this process's hard stack limit if lower: a container may not be given more than its caller
    (runc: "error setting rlimit type 3: operation not permitted"); the app needs 32 MiB."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    return STACK if hard == resource.RLIM_INFINITY else min(STACK, hard)


ULIMITS = ("nofile=16384:16384", "nproc=16384:16384", f"stack={_stack_limit()}:{_stack_limit()}")
APP_ERROR = re.compile(r"hccp53 app: error: (.*)")


def engine() -> str:
    """The container engine: $CONTAINER_ENGINE, else podman, else docker."""
    chosen = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")
    if not chosen:
        raise SystemExit("map_build: neither podman nor docker is installed; run scripts/setup_containers.sh.")
    return chosen


def image_exists(name: str) -> bool:
    return subprocess.run([engine(), "image", "inspect", name], capture_output=True).returncode == 0


def version() -> str:
    sys.path.insert(0, str(ROOT))
    import hccp53

    return hccp53.__version__


def map_tag() -> str:
    return f"localhost/hccp53-map:{version()}"


# ---- the machine's local package folders, for builds ------------------------------------------------------
def local_pip_sources() -> tuple[list[str], list[str]]:
    """(find-links folders, file:// indexes) of this machine's pip configuration that exist on disk."""
    links, indexes = [], []
    found = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for line in found.splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip("'\"")
        if key.endswith("find-links"):
            links += [v for v in value.split() if Path(v).is_dir()]
        elif key.endswith("extra-index-url") or key.endswith("index-url"):
            indexes += [v for v in value.split() if v.startswith("file://") and Path(v[7:]).is_dir()]
    links += [v for v in os.environ.get("PIP_FIND_LINKS", "").split() if Path(v).is_dir()]
    return sorted(set(links)), sorted(set(indexes))


def build_mounts(scratch: Path) -> list[str]:
    """``-v`` options that give RUN steps this machine's local wheels and a pip.conf naming them."""
    links, indexes = local_pip_sources()
    conf = configparser.ConfigParser()
    conf["global"] = {"cert": "/etc/ssl/certs/ca-certificates.crt"}
    if links:
        conf["global"]["find-links"] = " ".join(links)
    if indexes:
        conf["global"]["extra-index-url"] = " ".join(indexes)
    with open(scratch / "pip.conf", "w") as handle:
        conf.write(handle)
    mounts = ["-v", f"{scratch / 'pip.conf'}:/etc/pip.conf:ro"]
    for folder in sorted({*links, *(index[7:].rstrip("/").rsplit("/simple", 1)[0] for index in indexes)}):
        mounts += ["-v", f"{folder}:{folder}:ro"]
    return mounts


def run(command: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    print("map_build: $ " + " ".join(map(str, command)), flush=True)
    return subprocess.run(list(map(str, command)), check=True, **kwargs)


# ---- base --------------------------------------------------------------------------------------------------
def debian_mirror() -> str:
    """The first Debian mirror of this machine's apt sources (what debootstrap should use here)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file():
            for match in re.finditer(r"(?:URIs:|deb)\s+(https?://\S+/debian)\b(?!-)", path.read_text()):
                return match.group(1)
    return "http://deb.debian.org/debian"


def base(force: bool) -> None:
    if image_exists(BASE_IMAGE) and not force:
        print(f"map_build: {BASE_IMAGE} exists (pass --force to rebuild it).")
        return
    if not shutil.which("debootstrap"):
        raise SystemExit("map_build: debootstrap is not installed; run scripts/setup_containers.sh.")
    if os.geteuid() != 0:
        raise SystemExit("map_build: debootstrap needs root; run `make map` as root (or sudo).")
    started = time.monotonic()
    rootfs = BUILD / "rootfs"
    if rootfs.exists():
        shutil.rmtree(rootfs)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    packages = "ca-certificates,python3,python3-pip,python3-venv,python3-dev,gcc,g++,curl,jq"
    run(["debootstrap", "--variant=minbase", f"--include={packages}", "bookworm", rootfs, debian_mirror()])
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    run([engine(), "import", "-", ROOTFS_IMAGE], stdin=tar.stdout, stdout=subprocess.DEVNULL)
    if tar.wait() != 0:
        raise SystemExit("map_build: could not archive the debootstrap tree.")
    shutil.rmtree(rootfs)
    with tempfile.TemporaryDirectory(prefix="hccp53-map-base-") as scratch:
        context = Path(scratch)
        shutil.copy(ROOT / "scripts" / "map" / "Containerfile.base", context / "Containerfile")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", context / "ca-certificates.crt")
        run([engine(), "build", "--network", "host", *build_mounts(context), "-t", BASE_IMAGE, context])
    print(f"map_build: {BASE_IMAGE} built in {time.monotonic() - started:.0f} s.")


# ---- package -----------------------------------------------------------------------------------------------
def adapt_dockerfile(text: str) -> str:
    """The packager's Dockerfile for a Debian base without NVIDIA's apt repository.

    - the "Update NV GPG repo key" step downloads NVIDIA's keyring (there is no CUDA apt repository to use);
    - Python is pinned to Ubuntu 24.04's versions (python3=3.12.3-*, python3-pip=24.0+dfsg-*): unpinned;
    - Ubuntu's EXTERNALLY-MANAGED marker path names python3.12: any python3.* instead;
    - the Holoscan library folder on LD_LIBRARY_PATH names python3.12's user site: bookworm's Python instead;
    - after the requirements, a step completes the installation of holoscan's "axle" wheel (:data:`FINALISE_AXLE`).
    """
    keyring = re.compile(r"^# Update NV GPG repo key\n.*?\n\s*\n", re.MULTILINE | re.DOTALL)  # to the blank line
    text, removed = keyring.subn("", text)
    if removed != 1:
        raise SystemExit("map_build: the packager's Dockerfile changed (no NVIDIA keyring step found); "
                         "check adapt_dockerfile against holoscan-cli's template.")  # fmt: skip
    text = re.sub(r"(python3(?:-minimal|-venv|-pip)?|libpython3-stdlib)=\$\{PYTHON(?:_PIP)?_VERSION\}", r"\1", text)
    text = text.replace(".local/lib/python3.12/site-packages", f".local/lib/python{BASE_PYTHON}/site-packages")
    requirements = "RUN pip install --no-cache-dir --user -r /tmp/requirements.txt\n"
    if text.count(requirements) != 1:
        raise SystemExit("map_build: the packager's Dockerfile changed (no single requirements step found); "
                         "check adapt_dockerfile against holoscan-cli's template.")  # fmt: skip
    text = text.replace(requirements, requirements + FINALISE_AXLE)
    return text.replace("/usr/lib/python3.12/EXTERNALLY-MANAGED", "/usr/lib/python3*/EXTERNALLY-MANAGED")


#: holoscan-cu13 is a wheel-axle wheel: a ``.pth`` file finishes its installation at the first Python start that
#: succeeds, and then removes itself. Until then, every Python start runs it, and it imports pip with
#: ``sys.path`` briefly replaced by an unordered set (wheel-axle-runtime 0.0.13): whether the user site's pip or
#: Debian's older one is imported depends on the string hash seed. With Debian's, the next ``pip`` call fails
#: ("cannot import name 'cli'"), one build in two. This step starts Python under fixed seeds until the
#: ``.pth`` is gone, so that neither the later build steps nor the app's starts depend on chance.
FINALISE_AXLE = (
    "RUN for seed in 0 1 2 3 4 5 6 7 8 9; do PYTHONHASHSEED=$seed python3 -c pass 2>/dev/null; "
    "ls /home/${UNAME}/.local/lib/python3*/site-packages/holoscan*.pth >/dev/null 2>&1 || exit 0; done; "
    "echo \"holoscan's wheel-axle installation did not complete\" >&2; exit 1\n"
)


def podman_build(**builds) -> None:
    """Stands in for holoscan-cli's ``build_docker_image`` (docker buildx): the same build, by podman."""
    context, dockerfile = Path(builds["context_path"]), Path(builds["file"])
    # bytecode for the application folder, which the container's user cannot write to: otherwise every start
    # compiles hccp53 again (unchecked hashes: valid whatever the copied files' times)
    compileall.compile_dir(context / "app", quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    text = adapt_dockerfile(dockerfile.read_text())
    dockerfile.write_text(text)
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "Dockerfile").write_text(text)
    args = [f"--build-arg={key}={value}" for key, value in builds.get("build_args", {}).items()]
    tags = [f"--tag={tag}" for tag in [*builds["tags"], map_tag()]]  # the packager's tag, and a plain one
    cache = [] if builds.get("cache", True) else ["--no-cache"]
    run([engine(), "build", "--network", "host", *build_mounts(context), *args, *tags, *cache, "-f", dockerfile,
         context])  # fmt: skip


def artifacts_file(folder: Path, holoscan_version: str) -> Path:
    """The packager's manifest (otherwise downloaded from GitHub), naming our base image for every platform."""
    from holoscan_cli.common.enum_types import PlatformConfiguration

    configs = [config.value for config in PlatformConfiguration]
    manifest = {holoscan_version: {
        "holoscan": {"wheel-version": holoscan_version, "debian-version": f"{holoscan_version}.0-1",
                     "base-images": {config: BASE_IMAGE for config in configs},
                     "build-images": {config: {"x64-workstation": BASE_IMAGE} for config in configs}},
        "health-probes": {}}}  # fmt: skip
    path = folder / "artifacts.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def package(no_cache: bool = False) -> None:
    if not image_exists(BASE_IMAGE):
        raise SystemExit(f"map_build: the base image {BASE_IMAGE} is missing; run `python {__file__} base` first.")
    import holoscan_cli.packager.container_builder as container_builder
    import holoscan_cli.packager.platforms as platforms
    from holoscan_cli.__main__ import main as holoscan_main

    sys.path.insert(0, str(ROOT / "scripts"))
    from map_app import assemble

    started = time.monotonic()
    app = BUILD / "app"
    if app.exists():
        shutil.rmtree(app)
    assemble(app)
    holoscan_version = ".".join(__import__("holoscan_cli").__version__.split(".")[:3])
    container_builder.create_and_get_builder = lambda name: name
    container_builder.build_docker_image = podman_build
    platforms.image_exists = image_exists
    argv = ["monai-deploy", "package", str(app), "--config", str(ROOT / "app.yaml"), "--models", str(ROOT / "models"),
            "--tag", map_tag(), "--platform", "x86_64", "--base-image", BASE_IMAGE,
            "--source", str(artifacts_file(BUILD, holoscan_version)),
            *(["--no-cache"] if no_cache else [])]  # fmt: skip
    sys.argv = argv  # the packager also reads the SDK from the program's name
    try:
        holoscan_main(argv)
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    if not image_exists(map_tag()):
        raise SystemExit("map_build: the packager reported no image; see its output above.")
    size = subprocess.run([engine(), "image", "inspect", "--format", "{{.Size}}", map_tag()],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    print(f"map_build: {map_tag()} built in {time.monotonic() - started:.0f} s ({int(size) / 1e9:.2f} GB).")


# ---- run ---------------------------------------------------------------------------------------------------
def run_map(study: Path, out: Path, image: str, gpu: bool = False) -> int:
    """Run the MAP on one study as a MAP runner does; the app's own exit status, which the image's ``tools``
    entrypoint does not pass on, is recovered from its output (result.json) and its one-sentence error."""
    if not study.is_dir():
        raise SystemExit(f"map_build: the study folder {study} does not exist.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SystemExit(f"map_build: the output folder {out} exists and is not empty; choose another.")
    if not image_exists(image):
        raise SystemExit(f"map_build: the image {image} is missing; run `make map` first.")
    out.mkdir(parents=True, exist_ok=True)
    ulimits = [f"--ulimit={limit}" for limit in ULIMITS]
    # podman's :U gives the mounted output folder to the container's user, as a runner's --user would
    mount_out = f"{out.resolve()}:/var/holoscan/output" + (":U" if Path(engine()).name == "podman" else "")
    gpus = ["--device", "nvidia.com/gpu=all"] if gpu and Path(engine()).name == "podman" else (
        ["--gpus", "all"] if gpu else [])  # fmt: skip
    command = [engine(), "run", "--rm", "--network", "none", *ulimits, *gpus,
               "-v", f"{study.resolve()}:/var/holoscan/input:ro", "-v", mount_out, image]  # fmt: skip
    print("map_build: $ " + " ".join(command), flush=True)
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    wall = time.monotonic() - started
    errors = APP_ERROR.findall(done.stdout + done.stderr)
    if errors or not (out / "result.json").is_file():
        sentence = errors[-1] if errors else f"the container ended (status {done.returncode}) without result.json"
        print(f"map_build: the app failed in the container: {sentence}", file=sys.stderr)
        return 1
    print(f"map_build: result in {out} ({wall:.1f} s from container start).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    base_parser = commands.add_parser("base", help="build the base image (debootstrap + Containerfile.base)")
    base_parser.add_argument("--force", action="store_true", help="rebuild it even if it exists")
    package_parser = commands.add_parser("package", help="build the MAP image with the packager's template")
    package_parser.add_argument("--no-cache", action="store_true", help="rebuild every layer (the base image stays)")
    run_parser = commands.add_parser("run", help="run the MAP on a study folder")
    run_parser.add_argument("study", type=Path, help="folder of the study's DICOM files (mounted read-only)")
    run_parser.add_argument("out", type=Path, help="empty or new folder for the SEG, SR, PDF and result.json")
    run_parser.add_argument("--image", default=None, help="MAP image (default: localhost/hccp53-map:VERSION)")
    run_parser.add_argument("--gpu", action="store_true", help="give the container the host's GPUs")
    args = parser.parse_args(argv)
    if args.command == "base":
        base(args.force)
    elif args.command == "package":
        package(args.no_cache)
    else:
        return run_map(args.study, args.out, args.image or map_tag(), args.gpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())

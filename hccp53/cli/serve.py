"""``hccp53 serve``: receive studies by C-STORE, run the app on each, send SR + SEG (+ PDF) back."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from hccp53.cli.arguments import positive_int

logger = logging.getLogger(__name__)

DESCRIPTION = """\
A DICOM Storage SCP for a hospital router or PACS. It accepts MR instances (other objects are kept in
the spool's rejected/ folder and refused with status 0x0122), writes each one durably to the spool
before answering, and once a study has been quiet for --quiet-seconds it runs the app on it (the same
code as app.py, networks loaded once) and sends the DICOM SR, SEG and summary PDF back to the same study:
by C-STORE to --destination AET@host:port or by STOW-RS to --stow-url. Failed sends stay in the outbox
and are retried with doubling waits, across restarts; studies the app refuses stay in failed/ with the
reason. Listens on 127.0.0.1 unless --host says otherwise. Settings: configs/serve.yaml (--config);
options given here override it. Stop with Ctrl-C or SIGTERM (running studies finish first).

  hccp53 serve --port 11112 --destination ORTHANC@127.0.0.1:4242
  hccp53 serve --status --spool runs/spool      # what the server is doing (exit 1 when it is not running)
"""


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("serve", help="DICOM listener: run the app on received studies, send results back",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="settings file (default: configs/serve.yaml)")
    parser.add_argument("--ae-title", help="our AE title (default HCCP53)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=positive_int, help="DICOM port (default 11112)")
    parser.add_argument("--allow", action="append", dest="allowed_calling_aets", metavar="AET",
                        help="a calling AE title allowed to send (repeat for more; default: any)")
    parser.add_argument("--spool", type=Path, help="spool folder (default runs/spool)")
    parser.add_argument("-m", "--models", type=Path, help="models folder with the weights (default models)")
    parser.add_argument("--quiet-seconds", type=float, help="a study is complete after this many quiet seconds")
    parser.add_argument("--workers", type=positive_int, help="studies processed at once (default 1)")
    parser.add_argument("--destination", metavar="AET@HOST:PORT", help="send results by C-STORE to this AE")
    parser.add_argument("--stow-url", metavar="URL", help="send results by STOW-RS to this DICOMweb root")
    parser.add_argument("--status", action="store_true", help="print the state of the server using --spool, then exit")
    parser.add_argument("--json", action="store_true", help="with --status: print JSON")
    parser.set_defaults(run=run)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("ae_title", "host", "port", "allowed_calling_aets", "spool", "models", "quiet_seconds", "workers",
            "destination", "stow_url")  # fmt: skip
    return {k: getattr(args, k) for k in keys}


def run(args: argparse.Namespace) -> int:
    from hccp53.pacs.config import read_config

    config = read_config(args.config, _overrides(args))
    if args.status:
        return _print_status(config.spool, args.json)
    from hccp53.pacs.server import Server
    from hccp53.runtime import raise_stack_limit

    raise_stack_limit(threads=True)
    server = Server(config)
    server.start()
    signal.signal(signal.SIGTERM, lambda signum, frame: server.request_stop())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("Interrupted.")
    logger.info("Stopping: waiting for running studies to finish.")
    server.stop()
    return 0


def _print_status(spool: Path, as_json: bool) -> int:
    from hccp53.pacs.server import spool_status

    status = spool_status(spool)
    if as_json:
        sys.stdout.write(json.dumps(status, indent=2) + "\n")
        return 0 if status["running"] else 1
    server = status["server"] or {}
    state = "running" if status["running"] else "not running"
    print(f"hccp53 serve: {state}" + (f" (pid {server.get('pid')}, {server.get('ae_title')} on "
          f"{server.get('host')}:{server.get('port')}, results to {server.get('destination')})" if server else ""))
    counts = status["counts"]
    print("spool: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for job in status["outbox"]:
        print(f"  outbox {job['job_id']}: {job['pending']} object(s) to send, {job['attempts']} tries"
              + (f"; last error: {job['last_error']}" if job["last_error"] else ""))
    for failed in status["failed"]:
        print(f"  failed {failed['job_id']}: {failed['reason']}")
    return 0 if status["running"] else 1

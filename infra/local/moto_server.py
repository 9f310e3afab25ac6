"""The local stack's AWS: moto's HTTP app on 127.0.0.1 with its DynamoDB and S3 state kept on disk.

``python -m infra.local.moto_server --port 5000 --data .local/moto`` loads the snapshot, replays the
journal (:mod:`infra.local.persistence`), then listens; it prints one ``moto ready …`` line.
SIGTERM / SIGINT: stop listening, snapshot, exit.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from infra.local.moto_params import parse_json_faster
from infra.local.moto_speed import (
    plain_results_walked_directly,
    speed_up_dispatch,
    speed_up_dynamodb_answers,
    wait_for_sqs_messages_without_spinning,
)
from infra.local.moto_updates import speed_up_update_items
from infra.local.persistence import Journal, PersistentApp
from infra.local.procs import die_with_parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.moto_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--data", type=Path, required=True, help="directory of the snapshot and journal")
    parser.add_argument("--compact-after", type=int, default=None)
    parser.add_argument("--supervised", action="store_true", help="ignore SIGINT (stop on SIGTERM)")
    args = parser.parse_args(argv)
    die_with_parent()

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from infra.local.moto_http import KeepAliveHandler, stop_serving, use_plain_header_parsing
    from infra.local.moto_lane import DynamoLane

    speed_up_dispatch()
    speed_up_dynamodb_answers()
    plain_results_walked_directly()
    speed_up_update_items()
    wait_for_sqs_messages_without_spinning()
    use_plain_header_parsing()
    parse_json_faster()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    app = DomainDispatcherApplication(create_backend_app)
    journal = Journal(args.data, **({"compact_after": args.compact_after} if args.compact_after else {}))
    report = journal.load(app)
    server = make_server(
        args.host,
        args.port,
        PersistentApp(DynamoLane(app), journal),
        threaded=True,
        request_handler=KeepAliveHandler,
    )
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    # Under the supervisor Ctrl-C reaches every process; moto stops last, when the supervisor says so.
    signal.signal(signal.SIGINT, signal.SIG_IGN if args.supervised else on_signal)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    print(f"moto ready on {args.host}:{args.port}; data {args.data} ({report.line()})", flush=True)
    stop.wait()
    stop_serving(server)
    server.server_close()
    journal.close(compact=True)
    print(f"moto stopped; data saved in {args.data} (generation {journal.generation})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

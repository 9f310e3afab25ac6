"""The local stack's background workers in their own process: the provisioner polling the trigger
queue and the jobs worker polling the jobs queue (the Lambdas' code paths), and the billing scheduler
(the cloud's scheduled functions).

``python -m infra.local.workers`` reads the settings from the environment the supervisor passes;
WISP_SCHEDULER_INTERVAL is the scheduler's tick in seconds (60). SIGTERM / SIGINT stop both.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from infra.local.procs import die_with_parent


def main() -> int:
    die_with_parent()
    from composition import init_runtime
    from infra.local.jobs_worker import run_worker as run_jobs_worker
    from infra.local.provisioner_worker import run_worker
    from infra.local.scheduler import run_scheduler
    from shared.settings import Settings

    rt = init_runtime(Settings.from_env())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the supervisor stops the children in order
    if "--wait-go" in sys.argv:  # started before the tables exist: wait for the supervisor's word
        sys.stdin.readline()
    interval = int(os.environ.get("WISP_SCHEDULER_INTERVAL") or "60")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [
        threading.Thread(target=run_worker, args=(rt, stop), name="provisioner", daemon=True),
        threading.Thread(target=run_jobs_worker, args=(rt, stop), name="jobs", daemon=True),
        threading.Thread(target=run_scheduler, args=(rt, stop, interval), name="scheduler", daemon=True),
    ]
    for thread in threads:
        thread.start()
    print(f"workers ready: provisioner polling the trigger queue, scheduler every {interval} s", flush=True)
    stop.wait()
    for thread in threads:
        thread.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

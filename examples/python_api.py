"""Pushing from Python, as a scheduled task would (an Airflow, Dagster or Prefect step, or cron).

    PRODUCTIV_APP_ID=... PRODUCTIV_CLIENT_ID=... PRODUCTIV_CLIENT_SECRET=... \
        python examples/python_api.py 'exports/*.json'

Settings come from the environment and the config file, as for the command line. An empty
exports folder is a success (allow_empty=True): the task has nothing to do this time. The task
fails (raises) when any file failed, so the scheduler retries it; a rerun sends only what did
not arrive, because the journal remembers what did. `on_file` only logs: were it to raise, the
push would stop, finishing and recording the files in flight, and raise that exception.
"""

from __future__ import annotations

import logging
import sys

from productiv_upload import AccessRefused, FileResult, LockHeld, PushResult, push

log = logging.getLogger("export_task")


def upload_exports(patterns: list[str]) -> PushResult:
    def on_file(result: FileResult) -> None:
        log.info("%s %s", result.status, result.path)

    try:
        result = push(patterns, min_age=5, allow_empty=True, on_file=on_file)
    except (AccessRefused, LockHeld) as error:
        # Credentials refused or another push running: retrying now would not help.
        log.error("push did not run: %s", error)
        raise
    log.info("counts: %s", result.counts)
    if not result.ok:
        failed = [f"{f.path}: {f.error}" for f in result.files if f.status == "failed"]
        raise RuntimeError(f"{len(failed)} file(s) failed: {'; '.join(failed)}")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    upload_exports(sys.argv[1:] or ["exports/*.json"])

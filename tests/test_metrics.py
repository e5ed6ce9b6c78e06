"""--metrics-file: read back with prometheus_client's own parser, as node_exporter would, also
while the file is being rewritten."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import StartCli, invoke, make_files, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(path: Path) -> Samples:
    """Every sample of the file, by name and labels (app_id left out)."""
    found: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "app_id"))
            assert sample.labels["app_id"] == SANDBOX_APP_ID
            found[(sample.name, labels)] = sample.value
    return found


def value(found: Samples, name: str, **labels: str) -> float:
    return found[(f"productiv_upload_{name}", tuple(sorted(labels.items())))]


def push_process(*args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "productiv_upload", "push", "-q", *args],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=lambda: os.umask(umask),
    )  # fmt: skip


def test_a_push_writes_its_figures_and_a_failed_run_carries_the_last_success_over(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    metrics = tmp_path / "node-exporter" / "productiv-upload.prom"
    metrics.parent.mkdir()
    files = make_files(tmp_path / "exports", 3, size=100)

    # A hardened unit runs with UMask=0077: node_exporter, another user, must still read it.
    first = push_process("--metrics-file", str(metrics), *map(str, files), umask=0o077)
    after_first = samples(metrics)
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(metrics.stat().st_mode) == 0o644
    assert value(after_first, "files", status="uploaded") == 3
    assert value(after_first, "uploaded_bytes") == 300
    assert value(after_first, "last_run_exit_code") == 0
    success = value(after_first, "last_success_timestamp_seconds")
    assert abs(success - time.time()) < 30

    time.sleep(1.1)  # the timestamps have whole seconds
    sandbox.faults.put_errors.extend([500] * 3)
    [late] = make_files(tmp_path / "more", 1)
    second = push_process("--retries", "2", "--metrics-file", str(metrics), str(late))
    after_second = samples(metrics)

    assert second.returncode == 1
    assert value(after_second, "files", status="failed") == 1
    assert value(after_second, "files", status="uploaded") == 0
    assert value(after_second, "last_run_exit_code") == 1
    assert value(after_second, "last_success_timestamp_seconds") == success
    assert value(after_second, "last_run_timestamp_seconds") > success
    assert sorted(p.name for p in metrics.parent.iterdir()) == ["productiv-upload.prom"]


def test_a_dry_run_writes_no_metrics(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    metrics = tmp_path / "m.prom"
    files = make_files(tmp_path / "exports", 1)

    assert invoke("push", "--dry-run", "--metrics-file", str(metrics), str(files[0])).exit_code == 0
    assert not metrics.exists()


def test_the_config_file_names_the_metrics_file(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    metrics = tmp_path / "from-config.prom"
    config = tmp_path / "config.toml"
    config.write_text(f'[default]\nmetrics_file = "{metrics}"\n')
    monkeypatch.setenv("PRODUCTIV_UPLOAD_CONFIG", str(config))
    files = make_files(tmp_path / "exports", 2)

    assert invoke("push", "-q", *map(str, files)).exit_code == 0
    assert value(samples(metrics), "files", status="uploaded") == 2


def test_a_metrics_file_in_a_missing_folder_is_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 1)

    run = invoke("push", "--metrics-file", str(tmp_path / "nowhere" / "m.prom"), str(files[0]))

    assert run.exit_code == 2
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in run.stderr
    assert sandbox.requests_of("put") == []


def test_watch_metrics_stay_whole_for_a_reader_while_they_are_rewritten(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_cli: StartCli
) -> None:
    metrics = tmp_path / "watch.prom"
    spool = tmp_path / "spool"
    spool.mkdir()
    reads: list[Samples] = []
    problems: list[str] = []
    done = threading.Event()

    def scrape() -> None:  # as node_exporter does, as often as it can
        while not done.is_set():
            try:
                reads.append(samples(metrics))
            except FileNotFoundError:
                pass  # not written yet
            except Exception as error:  # any parse error, of any kind, is what this looks for
                problems.append(repr(error))

    scraper = threading.Thread(target=scrape)
    scraper.start()
    watch = start_cli("watch", "--min-age", "0.2", "--batch-wait", "0.1", "--metrics-file",
                      str(metrics), str(spool))  # fmt: skip
    try:
        for burst in range(10):
            for number in range(20):
                (spool / f"b{burst}-{number}.json").write_bytes(os.urandom(64))
            time.sleep(0.5)
        wait_for(lambda: bool(reads) and value(reads[-1], "files", status="uploaded") == 200, 60)
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=30)
        done.set()
        scraper.join()

    assert problems == []
    uploaded = [value(r, "files", status="uploaded") for r in reads]
    assert uploaded == sorted(uploaded)  # never a step back: each read saw a whole file
    assert len(set(uploaded)) >= 3  # it was rewritten as it went
    final = samples(metrics)
    assert value(final, "files_waiting", reason="settling") == 0
    assert value(final, "files_waiting", reason="retry") == 0
    assert value(final, "info", version=_version(), command="watch") == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".watch.prom")] == []
    assert sandbox.put_count(SANDBOX_APP_ID, "b9-19.json") == 1


def _version() -> str:
    from productiv_upload import __version__

    return __version__

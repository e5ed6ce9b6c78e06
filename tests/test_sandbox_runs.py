"""`push --sandbox` and `productiv-upload sandbox` as a new user meets them, in real processes.

The sandbox started for a run takes any app id, never claims uploads that did not happen, says
where the files are in every output mode, and leaves no folder behind unless asked to.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.conftest import make_files, run_process
from tests.proxies import StartProxy


def temporary_folders() -> list[Path]:
    """What runs left in the temporary folder (TMPDIR, which conftest points at tmp_path)."""
    return sorted(Path(os.environ["TMPDIR"]).iterdir())


def test_a_sandbox_run_takes_the_app_id_the_readme_examples_use(tmp_path: Path) -> None:
    files = make_files(tmp_path / "exports", 3)

    run = run_process("push", "--sandbox", "--app-id", "myAppId", "--json", *map(str, files))

    assert run.exit_code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["app_id"] == "myAppId"
    assert report["counts"]["uploaded"] == 3


def test_a_sandbox_run_removes_its_folder_and_says_so(tmp_path: Path) -> None:
    files = make_files(tmp_path / "exports", 3)

    run = run_process("push", "--sandbox", *map(str, files))

    assert run.exit_code == 0, run.stderr
    note = run.stdout.splitlines()[-1]
    assert note == "sandbox: the 3 files it stored were removed with it (--keep-sandbox keeps them)"
    assert temporary_folders() == []


def test_keep_sandbox_keeps_the_uploaded_files_and_names_where(tmp_path: Path) -> None:
    files = make_files(tmp_path / "exports", 3)

    run = run_process("push", "--sandbox", "--keep-sandbox", "--app-id", "myAppId",
                      *map(str, files))  # fmt: skip

    assert run.exit_code == 0, run.stderr
    match = re.fullmatch(
        r"sandbox: 3 uploaded files in (\S+); its folder (\S+) is kept: delete it when done",
        run.stdout.splitlines()[-1],
    )
    assert match, run.stdout
    landed, folder = Path(match[1]), Path(match[2])
    assert temporary_folders() == [folder]
    assert landed == folder / "myAppId"
    for path in files:
        assert (landed / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("mode", ["--json", "--quiet"])
def test_json_and_quiet_runs_say_on_stderr_where_the_files_went(tmp_path: Path, mode: str) -> None:
    files = make_files(tmp_path / "exports", 2)

    run = run_process("push", "--sandbox", "--keep-sandbox", mode, *map(str, files))

    assert run.exit_code == 0, run.stderr
    if mode == "--json":
        assert json.loads(run.stdout)["counts"]["uploaded"] == 2  # stdout: the report alone
    else:
        assert run.stdout.count("\n") == 1  # stdout: the summary line alone
        assert run.stdout.startswith("2 files: 2 uploaded")
    [folder] = temporary_folders()
    assert f"its folder {folder} is kept" in run.stderr
    assert "2 uploaded files in" in run.stderr


def test_a_dry_run_with_the_sandbox_claims_no_upload_and_leaves_nothing(tmp_path: Path) -> None:
    files = make_files(tmp_path / "exports", 2)

    run = run_process("push", "--sandbox", "--keep-sandbox", "--dry-run", *map(str, files))

    assert run.exit_code == 0, run.stderr
    assert "would ask a sandbox for upload URLs" in run.stdout
    assert run.stdout.splitlines()[-1].endswith("nothing was contacted")
    assert "sandbox:" not in run.stdout + run.stderr
    assert temporary_folders() == []


def test_a_run_whose_files_all_fail_does_not_claim_uploads(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # named explicitly: reported failed and never opened

    run = run_process("push", "--sandbox", str(fifo))

    assert run.exit_code == 1
    assert "sandbox:" not in run.stdout + run.stderr
    assert temporary_folders() == []


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--api-url", "http://127.0.0.1:1"), ("--token-url", "http://127.0.0.1:1"),
     ("--profile", "staging"), ("--storage-host", "*.example.com")],
)  # fmt: skip
def test_settings_that_point_elsewhere_are_refused_with_the_sandbox(
    tmp_path: Path, flag: str, value: str
) -> None:
    files = make_files(tmp_path / "exports", 1)

    run = run_process("push", "--sandbox", flag, value, *map(str, files))

    assert run.exit_code == 2
    assert run.stderr == (
        "productiv-upload: error: --sandbox uploads to a sandbox started for this run; "
        f"leave out {flag}\n"
    )
    assert temporary_folders() == []


def test_keep_sandbox_without_a_sandbox_is_refused(tmp_path: Path) -> None:
    run = run_process("push", "--keep-sandbox", "--app-id", "x", str(tmp_path))

    assert run.exit_code == 2
    assert "--keep-sandbox goes with --sandbox" in run.stderr


def test_the_printed_profile_works_as_pasted(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    files = make_files(tmp_path / "exports", 2)
    server = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "sandbox", "--dir", str(tmp_path / "bucket")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = []
        for line in server.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Stop it with"):
                break
        first_command = banner.index("and add to it:") - 1
        setup = banner[first_command].strip()
        profile = [line.strip() for line in banner[first_command + 2 : -1]]

        # What a user does: run the command shown, then paste the lines into the file.
        assert "chmod 600" in setup
        subprocess.run(["bash", "-c", setup], check=True)
        config = home / ".config" / "productiv-upload" / "config.toml"
        with config.open("a") as pasted:
            pasted.write("\n".join(profile) + "\n")
        run = run_process("push", "--profile", "sandbox", "--app-id", "myAppId",
                          *map(str, files))  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        _, stopped = server.communicate(timeout=10)

    assert profile[0] == "[sandbox]"
    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[-1].startswith("2 files: 2 uploaded")
    assert (tmp_path / "bucket" / "myAppId" / files[0].name).read_bytes() == files[0].read_bytes()
    assert f"the files uploaded to it stay in {tmp_path / 'bucket'}" in stopped


def test_the_sandbox_over_tls_behind_a_proxy_takes_a_push_with_its_ca_trusted(
    tmp_path: Path, tls_cert: trustme.LeafCert, tls_ca_bundle: Path, start_proxy: StartProxy
) -> None:
    """What an administrator rehearses: https, the company proxy, the company CA."""
    cert, key = tmp_path / "sandbox.pem", tmp_path / "sandbox-key.pem"
    tls_cert.cert_chain_pems[0].write_to_path(str(cert))
    tls_cert.private_key_pem.write_to_path(str(key))
    proxy = start_proxy()
    files = make_files(tmp_path / "exports", 3)
    server = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "sandbox", "--dir", str(tmp_path / "bucket"),
         "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = []
        for line in server.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("Stop it with"):
                break
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in banner[: banner.index("or, to have the tool fetch tokens itself:")]
            if line.strip().startswith("export ")
        )
        # Its certificate is not self-signed here: the CA that signed it is named instead.
        assert exports["PRODUCTIV_CA_BUNDLE"] == str(cert)
        exports["PRODUCTIV_CA_BUNDLE"] = str(tls_ca_bundle)
        env = {**os.environ, **exports, "HTTPS_PROXY": proxy.url()}
        run = subprocess.run(
            [sys.executable, "-m", "productiv_upload", "push", *map(str, files)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=10)

    assert any("the tool must trust the CA that signed --tls-cert" in line for line in banner)
    assert exports["PRODUCTIV_API_URL"].startswith("https://127.0.0.1:")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1].startswith("3 files: 3 uploaded")
    port = exports["PRODUCTIV_API_URL"].rsplit(":", 1)[1]
    assert set(proxy.targets) == {f"CONNECT 127.0.0.1:{port}"}


def test_tls_cert_without_its_key_is_refused(tmp_path: Path) -> None:
    run = run_process("sandbox", "--tls-cert", str(tmp_path / "cert.pem"))

    assert run.exit_code == 2
    assert "--tls-cert and --tls-key go together" in run.stderr

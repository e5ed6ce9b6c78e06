"""A run session: what push, watch and check open before anything is sent, opened one way.

    with RunSession.open(request.service, request.state, environ, kind="push") as session:
        session.check_metrics_file()      # before the lock: a bad path is a usage error
        session.lock(wait_s=request.state.wait_lock)
        journal = session.open_journal()  # after the lock: two runs never both decide
        record = session.record(warn)     # the run's line in the run log, and the metrics
        clients = session.connect(request.transfer, on_secret=...)

The service's settings (app, URLs, credentials, trust) and the state folder are resolved
first, even for a run with nothing to send: a cron job whose spool is empty today must not pass
as healthy without credentials. Closing the session closes the journal and releases the lock;
the clients' connections go with the process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from productiv_upload.common.files import check_writable
from productiv_upload.core.journal import JOURNAL_NAME, Journal, JournalError
from productiv_upload.core.session.clients import Clients, connect
from productiv_upload.core.session.lock import AppLock
from productiv_upload.core.session.record import PushRecord
from productiv_upload.core.settings.service import ServiceSettings
from productiv_upload.core.settings.shared import ServiceChoice, StateSettings
from productiv_upload.core.settings.state_dir import resolve_state_dir
from productiv_upload.core.settings.transfer import TransferSettings
from productiv_upload.service.http import RetryCallback


class RunSession:
    """One run's service, state folder, lock, journal, record and clients."""

    def __init__(
        self,
        service: ServiceSettings,
        state_dir: Path,
        *,
        metrics_file: Path | None = None,
        kind: str = "push",
        resumable: bool = True,
    ) -> None:
        self.service = service
        self.state_dir = state_dir
        self.kind = kind  # "push", "watch" or "check": named in the lock's messages
        self.api_key = service.api_url.rstrip("/")  # how the journal and the lock key the API
        self.app_id = service.app_id
        self.journal_path = state_dir / JOURNAL_NAME
        self.metrics_file = metrics_file or service.metrics_file
        # False for a sandbox started for one run: what it did not send is not sent later.
        self.resumable = resumable
        self._opened = contextlib.ExitStack()

    @classmethod
    def open(
        cls,
        choice: ServiceChoice,
        state: StateSettings,
        environ: Mapping[str, str],
        *,
        kind: str = "push",
        need_credentials: bool = True,
    ) -> RunSession:
        """Resolve what a request names: the service (with credentials if `need_credentials`),
        the state folder and the metrics file. Raises UsageError before anything is opened."""
        service = choice.resolve(environ, need_credentials=need_credentials)
        state_dir = resolve_state_dir(state.state_dir, environ)
        return cls(service, state_dir, metrics_file=state.metrics_file, kind=kind)

    def __enter__(self) -> RunSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._opened.__exit__(kind, error, traceback)

    def check_metrics_file(self) -> None:
        if self.metrics_file is not None:
            check_writable(self.metrics_file, "--metrics-file")

    def lock(self, *, wait_s: float = 0.0) -> None:
        """The app's lock, held until the session closes (LockHeld if another run has it)."""
        self._opened.enter_context(
            AppLock(self.state_dir, self.api_key, self.app_id, wait_s=wait_s, kind=self.kind)
        )

    def open_journal(self) -> Journal:
        """The journal, made if need be; JournalError names the file if it cannot be used."""
        return self._opened.enter_context(Journal(self.journal_path))

    def existing_journal(self) -> Journal | None:
        """The journal if there is one, opened for reading (a dry run writes nothing)."""
        journal = Journal.open_existing(self.journal_path)
        return None if journal is None else self._opened.enter_context(journal)

    def record(self, warn: Callable[[str], None]) -> PushRecord:
        return PushRecord(self.journal_path, self.api_key, self.app_id, self.metrics_file, warn)

    def journal_for_the_record(
        self, record: PushRecord, warn: Callable[[str], None]
    ) -> Journal | None:
        """A run with nothing to send is still recorded, so that the last success moves on;
        but a state folder it cannot use is only a warning then."""
        try:
            journal = Journal(self.journal_path)
        except JournalError as error:
            warn(f"the run was not recorded for `status`: {error}")
            return None
        try:
            record.started(journal)
        except JournalError as error:
            journal.close()
            warn(f"the run was not recorded for `status`: {error}")
            return None
        return self._opened.enter_context(journal)

    def connect(
        self,
        transfer: TransferSettings,
        *,
        on_secret: Callable[[str], None] | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Clients:
        """The API and storage clients, as `transfer` asks (see `clients.connect`)."""
        return connect(self.service, transfer, on_secret=on_secret, on_retry=on_retry)

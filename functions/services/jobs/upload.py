"""A job file written a page at a time: each page is kept in S3 as it is made (so the checkpoint after
a page holds everything written so far) and pages are joined into the parts of one S3 multipart upload
as soon as they make a part (``settings.job_part_bytes``, at least 5 MiB: S3's smallest part but the
last). Memory holds at most a part; a run that continues another's reads back the pages not yet in a
part. The upload's state (:attr:`PagedUpload.state`) goes into the job's checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.aws import AWS_ERRORS
from shared.runtime import Runtime
from store import jobs as job_store
from store.models import Job


def _fresh() -> dict[str, Any]:
    # upload: the multipart upload id; parts: [number, ETag]; first: the first page not in a part yet;
    # next: the number of the next page; pending: bytes of the pages not in a part; size: bytes written
    return {"upload": None, "parts": [], "first": 0, "next": 0, "pending": 0, "size": 0}


@dataclass
class PagedUpload:
    rt: Runtime
    job: Job
    name: str  # the file, under the job's folder
    content_type: str
    head: bytes = b""  # what the file starts with (a BOM, a header line), written with the first page
    state: dict[str, Any] = field(default_factory=_fresh)
    _pages: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def resume(
        cls, rt: Runtime, job: Job, name: str, content_type: str, head: bytes, state: dict[str, Any] | None
    ) -> PagedUpload:
        return cls(rt, job, name, content_type, head, dict(state) if state else _fresh())

    @property
    def _s3(self) -> Any:
        return self.rt.aws.client("s3")

    @property
    def _bucket(self) -> str:
        return self.rt.settings.documents_bucket

    def _page_name(self, n: int) -> str:
        return f"{self.name}.pages/{n:06d}"

    def add(self, data: bytes) -> None:
        """Write one page (the head first on page 0); a part is sent when the pages make one."""
        st = self.state
        n = int(st["next"])
        if n == 0:
            data = self.head + data
        job_store.put_file(
            self._s3, self._bucket, self.job, self._page_name(n), data, "application/octet-stream"
        )
        self._pages[n] = data
        st["next"] = n + 1
        st["pending"] = int(st["pending"]) + len(data)
        st["size"] = int(st["size"]) + len(data)
        if st["pending"] >= max(self.rt.settings.job_part_bytes, 1):
            self._send_part()

    def _pending(self) -> bytes:
        st = self.state
        out = []
        for n in range(int(st["first"]), int(st["next"])):
            page = self._pages.get(n)
            if page is None:  # written by an earlier run
                page = job_store.get_file(self._s3, self._bucket, self.job, self._page_name(n))
            out.append(page)
        return b"".join(out)

    def _send_part(self) -> None:
        st = self.state
        if st["upload"] is None:
            st["upload"] = job_store.start_upload(
                self._s3, self._bucket, self.job, self.name, self.content_type
            )
        number = len(st["parts"]) + 1
        etag = job_store.upload_part(
            self._s3, self._bucket, self.job, self.name, st["upload"], number, self._pending()
        )
        st["parts"] = [*st["parts"], [number, etag]]
        self._pages.clear()
        st["first"], st["pending"] = st["next"], 0

    def finish(self) -> int:
        """Send the last part, join the parts into the file and delete the pages; returns its size."""
        st = self.state
        if st["next"] == 0:
            self.add(b"")  # an empty result is still a file: the head
        # a run that died after joining the parts left the file (and maybe no pages): nothing to send
        if job_store.file_size(self._s3, self._bucket, self.job, self.name) != st["size"]:
            if st["pending"] or not st["parts"]:
                self._send_part()
            parts = [(int(n), str(etag)) for n, etag in st["parts"]]
            job_store.complete_upload(self._s3, self._bucket, self.job, self.name, st["upload"], parts)
        self._delete_pages()
        return int(st["size"])

    def _delete_pages(self) -> None:
        job_store.delete_files(
            self._s3, self._bucket, self.job, [self._page_name(n) for n in range(int(self.state["next"]))]
        )

    def abandon(self) -> None:
        """A failed job: the upload aborted, the pages deleted (best effort)."""
        try:
            if self.state["upload"]:
                job_store.abort_upload(self._s3, self._bucket, self.job, self.name, self.state["upload"])
            self._delete_pages()
        except AWS_ERRORS:
            pass

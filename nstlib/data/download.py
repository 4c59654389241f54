"""The one download helper: stream a URL into a file, verify its sha256, never leave a partial file.

:func:`download_file` is what ``nstlib.data.fetch`` uses for the pinned paintings. The bytes go into a
temporary file via :func:`atomic_write` and reach ``target`` only when the byte count
(``Content-Length`` and the pinned size) and the sha256 match; on any failure the temporary file is
removed and :class:`DownloadError` says what happened and what to do. Only the standard library
(``urllib``) is used.

:func:`atomic_write` ("a temporary file, then ``os.replace``") is the package's one atomic writer;
:func:`nstlib.io.save_image` uses it too (and ``nstlib.io`` re-exports it). It lives here, at the
bottom of the image stage, so that ``data`` never imports ``io``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["DownloadError", "download_file", "sha256_of", "verified", "atomic_write"]

#: A download gives up after ``_TOTAL_FACTOR * timeout`` seconds in all, even if bytes trickle in.
_TOTAL_FACTOR = 6.0


class DownloadError(OSError):
    """A file could not be downloaded or failed verification; the message says what to do."""


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it appears complete or not at all.

    Yields a file object for a new hidden temporary file in the same folder
    (``.<name>.<pid>.<random>.tmp``; the folder is created if needed). When the ``with`` block ends
    normally the file is flushed, synced and renamed over ``path`` with ``os.replace`` (atomic on
    one file system); if the block raises, the temporary file is deleted, an existing ``path`` is
    left untouched and the exception propagates. The file is created with ``open(..., "x")``, so
    its permissions follow the umask like any other new file.

    Parameters
    ----------
    path
        The final file.
    mode
        ``"wb"`` (default) or ``"w"`` (text; ``open_kwargs`` such as ``encoding`` are passed on).

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target, "w", encoding="utf-8") as f:
    ...     _ = f.write("complete")
    >>> target.read_text(encoding="utf-8")
    'complete'
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_write(mode={mode!r}): use 'wb' (bytes) or 'w' (text).")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, mode.replace("w", "x"), **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sha256_of(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified(path: str | os.PathLike, sha256: str, size: int | None = None) -> bool:
    """True if ``path`` is a file of ``size`` bytes (when given) whose sha256 starts with ``sha256``.

    A full pin is 64 hex digits; a prefix (as torchvision puts in its file names) also works.
    """
    path = Path(path)
    if not path.is_file() or (size is not None and path.stat().st_size != int(size)):
        return False
    return sha256_of(path).startswith(sha256.lower())


def download_file(
    url: str,
    target: str | os.PathLike,
    *,
    sha256: str,
    size: int | None = None,
    timeout: float = 10.0,
    what: str | None = None,
    advice: str = "",
) -> Path:
    """Download ``url`` to ``target`` (atomically), check size and sha256, and return ``target``.

    Parameters
    ----------
    url : str
        What to download (``http``, ``https`` or ``file``).
    target : path
        Where the verified file goes; its folder is created. An existing file is replaced only by
        a verified download.
    sha256 : str
        The expected sha256 hex digest, or a prefix of it.
    size : int, optional
        The expected byte count. A server sending more than 4x this (+ 1 MiB) is cut off.
    timeout : float
        Seconds to wait for the server on any one read; the whole download gives up after
        ``6 * timeout`` seconds.
    what : str, optional
        How error messages name the file, e.g. ``"the painting 'starry_night'"`` (default: the
        file name).
    advice : str
        Appended to every error message, e.g. how to get the file by hand.

    Raises
    ------
    DownloadError
        Unreachable server, HTTP error, stall or timeout, truncated body, wrong size or hash.
    """
    target = Path(target)
    what = what or repr(target.name)
    with atomic_write(target) as out:  # an exception below deletes the temporary file
        got_bytes, digest = _stream(url, out, timeout, size, what, advice)
        if (size is not None and got_bytes != int(size)) or not digest.startswith(sha256.lower()):
            expected = f"{size} bytes with sha256 {sha256}" if size is not None else f"sha256 {sha256}"
            raise DownloadError(
                f"The download of {what} from {url} does not match its pin: got {got_bytes} bytes "
                f"with sha256 {digest}, expected {expected}. The file was deleted. The server may now "
                f"serve a different file: try again later, or report it so the pin can be checked. "
                f"{advice}".rstrip()
            )
    return target


def _stream(url: str, out: IO[bytes], timeout: float, size: int | None, what: str, advice: str) -> tuple[int, str]:
    """Stream ``url`` into the open file ``out``; return (bytes written, sha256)."""
    deadline = time.monotonic() + _TOTAL_FACTOR * timeout
    digest = hashlib.sha256()
    n = 0
    request = urllib.request.Request(url, headers={"User-Agent": "nstlib"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            while True:
                if time.monotonic() > deadline:
                    raise DownloadError(
                        f"Downloading {url} took longer than {_TOTAL_FACTOR * timeout:.0f} s "
                        f"({n} bytes so far) and was stopped; the connection is too slow. "
                        f"Retry with a larger timeout=. {advice}".rstrip()
                    )
                chunk = response.read1(64 * 1024)  # whatever has arrived, so the deadline is checked
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                n += len(chunk)
                if size is not None and n > 4 * int(size) + (1 << 20):
                    raise DownloadError(f"{url} sent far more data than the pinned {size} bytes; stopped.")
    except urllib.error.HTTPError as e:
        raise DownloadError(
            f"The server answered HTTP {e.code} {e.reason} for {url}. The pinned URL may have "
            f"moved: please report it. {advice}".rstrip()
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
        if isinstance(e, DownloadError):
            raise
        reason = getattr(e, "reason", e)
        stalled = isinstance(reason, TimeoutError) or isinstance(e, TimeoutError)
        why = (
            f"the server did not answer within timeout={timeout} s" if stalled else f"{type(reason).__name__}: {reason}"
        )
        raise DownloadError(
            f"Could not download {what} from {url} ({why}). You may be offline, or the server is "
            f"unreachable. {advice}".rstrip()
        ) from None
    if expected is not None and n != int(expected):
        raise DownloadError(
            f"The download of {url} was cut off: got {n} of {expected} bytes. Nothing was saved; "
            f"try again. {advice}".rstrip()
        )
    return n, digest.hexdigest()

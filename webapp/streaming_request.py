"""The request class that streams uploaded files straight into storage.

Werkzeug's form parser asks the request for a file to write each uploaded part
into; here that file is a storage staging file that hashes and counts as bytes
arrive, and stops at the request's ``upload_limit``. So a file is written once,
hashed once, and never held in memory, whatever its size. The limit is a budget
for the whole request (``upload_limit``, what the view reserved from the quota;
``MAX_UPLOAD_BYTES`` where no view set one): every part's bytes count against it,
with or without a Content-Length, and each file stops at ``MAX_UPLOAD_BYTES``.

The parser reads the body 64 KiB at a time. Asking gunicorn for so little is
slow: its reader buffers up to 1 MiB and copies what is left of that buffer on
every read, so the parser is handed a ``BufferedBody`` that takes 1 MiB per
call from the server and serves the small reads from its own buffer
(``docs/performance.md``, figure 3).
"""

import io

from flask import Request, current_app
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from .storage import TooLarge


class UploadTooLarge(RequestEntityTooLarge):
    """The 413 raised while bytes arrive, with the limit that was crossed."""

    def __init__(self, limit, what="allowed for it"):
        super().__init__(f"The upload is larger than the {limit:,} bytes {what}.")
        self.limit = limit


class ByteBudget:
    """The bytes all the files of one request may hold together; the parts it was spent on, to close on overflow."""

    def __init__(self, limit):
        self.limit = limit
        self.spent = 0
        self.parts = []

    def spend(self, count):
        self.spent += count
        if self.spent > self.limit:
            for part in self.parts:
                part.close()
            raise UploadTooLarge(self.limit, "this request may hold (the size limit, or what is left of your quota)")


class LimitedStagingFile:
    """A staging file whose overflow (of its own limit or the request's budget) becomes an HTTP 413."""

    def __init__(self, staged, budget=None):
        self._staged = staged
        self._budget = budget
        if budget is not None:
            budget.parts.append(staged)

    def write(self, data):
        if self._budget is not None:
            self._budget.spend(len(data))
        try:
            return self._staged.write(data)
        except TooLarge as exc:
            self._staged.close()
            raise UploadTooLarge(exc.limit) from None

    def __getattr__(self, name):
        return getattr(self._staged, name)


BODY_READ_SIZE = 1024 * 1024


class RawBody(io.RawIOBase):
    """The WSGI input as a raw stream, so ``io.BufferedReader`` can read it in large pieces."""

    def __init__(self, stream):
        super().__init__()
        self._stream = stream

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def buffered_body(stream):
    """The body, read from the server 1 MiB at a time whatever size the caller asks for."""
    return io.BufferedReader(RawBody(stream), buffer_size=BODY_READ_SIZE)


class ExplainedFormDataParser(FormDataParser):
    """Werkzeug's parser, which drops a body it cannot parse without a word; this one keeps the reason."""

    def __init__(self, request, *args, **kwargs):
        super().__init__(*args, silent=False, **kwargs)
        self.request = request

    def parse(self, stream, mimetype, content_length, options=None):
        try:
            return super().parse(stream, mimetype, content_length, options)
        except ValueError as exc:
            self.request.form_problem = form_problem(exc)
            return stream, self.cls(), self.cls()


def form_problem(exc):
    """Why a form body could not be read, for the answer that says no file arrived."""
    if isinstance(exc, UnicodeDecodeError):
        return ("a part's headers (its file name?) are not UTF-8 text; send the file name in UTF-8, as browsers, "
                "curl and requests do")
    return f"the multipart body is malformed ({exc})"


class StreamingRequest(Request):
    #: Set by an upload view before the form is read: the bytes its files may hold in all.
    upload_limit = None
    #: Why the form body could not be parsed, when it could not (werkzeug alone would leave it empty, silently).
    form_problem = None

    def make_form_data_parser(self):
        return ExplainedFormDataParser(self, self._get_file_stream, max_form_memory_size=self.max_form_memory_size,
                                       max_content_length=self.max_content_length,
                                       max_form_parts=self.max_form_parts, cls=self.parameter_storage_class)

    def no_file_reason(self):
        """The message for a request whose ``file`` part did not arrive, with the parser's reason if it had one."""
        if self.form_problem:
            return f"No file was submitted: {self.form_problem}."
        return "No file was submitted."

    def _get_stream_for_parsing(self):
        stream = super()._get_stream_for_parsing()
        if isinstance(stream, io.BytesIO):
            return stream
        return buffered_body(stream)

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        storage = current_app.extensions["storage"]
        per_file = current_app.config["MAX_UPLOAD_BYTES"]
        if getattr(self, "_upload_budget", None) is None:
            self._upload_budget = ByteBudget(per_file if self.upload_limit is None else self.upload_limit)
        return LimitedStagingFile(storage.staging_file(max_bytes=per_file), self._upload_budget)

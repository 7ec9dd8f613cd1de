"""How the entry points work: the open file, its checked header, the decoded data and the report."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from nibabel import nifti1, nifti2

from workers.plain import human_bytes

from .checks import CHECKS, STREAM_CHECKS
from .findings import ERROR, Finding, InvalidNifti, Report, _num, _text, value_findings
from .header import _SPACE_UNITS, _TIME_UNITS, _Header
from .identify import _identify
from .sources import _GZIP_MAGIC, _GzipSource, _PlainSource


def _guarded(work: Callable[[], Any]) -> Any:
    """Turn any residual failure into an InvalidNifti, chained to the original for the logs."""
    try:
        with np.errstate(all="ignore"):
            return work()
    except InvalidNifti:
        raise
    except FileNotFoundError as exc:
        raise InvalidNifti("file", "missing", f"file=missing: {exc.strerror}: {exc.filename}",
                           internal=True) from exc
    except MemoryError as exc:
        raise InvalidNifti("file", "too large", "file=too large: not enough memory to read this image",
                           internal=True) from exc
    except Exception as exc:  # noqa: BLE001 - the module's contract is "InvalidNifti or a result"
        raise InvalidNifti("file", type(exc).__name__,
                           f"file={type(exc).__name__}: the file could not be read ({exc})",
                           internal=True) from exc


class _Opened:
    """An open file with its byte source and its checked header."""

    def __init__(self, path, max_decompressed_bytes: int, max_voxels: int):
        self._fh = open(path, "rb")
        try:
            self.file_bytes = os.fstat(self._fh.fileno()).st_size
            first = self._fh.read(2)
            self._fh.seek(0)
            if self.file_bytes == 0:
                raise InvalidNifti("file", 0, "file=0 bytes: the file is empty")
            if first == _GZIP_MAGIC:
                self.source = _GzipSource(self._fh)
            else:
                self.source = _PlainSource(self._fh, self.file_bytes)
            self.findings: list[Finding] = []
            self.header = self._read_header(max_decompressed_bytes, max_voxels)
        except BaseException:
            self._fh.close()
            raise

    def _read_header(self, max_decompressed_bytes: int, max_voxels: int) -> _Header:
        head = self.source.read(540)
        if not head:
            raise InvalidNifti("file", 0, "file=0 bytes after decompression: the gzip stream is empty")
        fmt, endian, size = _identify(head, self.source.compressed)
        dtype = (nifti1.header_dtype if fmt == "NIfTI-1" else nifti2.header_dtype).newbyteorder(endian)
        self.head = head
        h = _Header(fmt=fmt, endian=endian, sizeof_hdr=size, compressed=self.source.compressed,
                    file_bytes=self.file_bytes, raw=np.frombuffer(head[:size], dtype=dtype)[0],
                    max_decompressed_bytes=max_decompressed_bytes, max_voxels=max_voxels)
        self.run(CHECKS, h)
        return h

    def run(self, checks, h: _Header) -> None:
        for check in checks:
            for finding in check(h):
                if finding.level == ERROR:
                    raise InvalidNifti.from_finding(finding, self.findings)
                self.findings.append(finding)

    def count_rest(self) -> None:
        h = self.header
        h.over_cap = self.source.count_rest(h.max_decompressed_bytes)
        h.total_bytes = self.source.consumed
        h.stream_complete = self.source.complete
        h.trailing_data = self.source.trailing
        self.run(STREAM_CHECKS, h)

    def read_data(self) -> np.ndarray:
        """The stored data bytes; short when the file is (the stream checks then refuse it)."""
        h = self.header
        offset = int(h.vox_offset)
        buffer = np.empty(h.data_bytes, dtype=np.uint8)
        view = memoryview(buffer)
        in_head = self.head[offset:offset + h.data_bytes]
        view[:len(in_head)] = in_head
        self.source.skip(offset - len(self.head))
        if len(in_head) < h.data_bytes:
            self.source.readinto(view[len(in_head):])
        return buffer

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _Opened:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _inspect(path, max_decompressed_bytes: int, max_voxels: int) -> Report:
    with _Opened(path, max_decompressed_bytes, max_voxels) as opened:
        opened.count_rest()
        return _report(opened)


def _inspect_and_load(path, max_decompressed_bytes: int, max_voxels: int,
                      max_array_bytes: int) -> tuple[Report, np.ndarray]:
    with _Opened(path, max_decompressed_bytes, max_voxels) as opened:
        h = opened.header
        if h.n_voxels > max_voxels or h.array_bytes > max_array_bytes:
            opened.count_rest()
            raise InvalidNifti("dim", h.dims,
                               f"dim={h.dims}: {h.n_voxels:,} voxels of {h.datatype.name} need "
                               f"{human_bytes(h.array_bytes)} of memory to read, more than the "
                               f"{human_bytes(max_array_bytes)} this site allows",
                               findings=opened.findings)
        if h.compressed and int(h.vox_offset) + h.data_bytes > max_decompressed_bytes:
            opened.count_rest()  # can't be satisfied: the stream checks say whether it is a bomb or short
        raw = opened.read_data()
        opened.count_rest()
        data = _decode(raw, h)
        report = _report(opened)
    report.findings.extend(value_findings(data))
    return report, data


def _decode(raw: np.ndarray, h: _Header) -> np.ndarray:
    return _floats(raw, h).reshape(h.shape, order="F")


def _decode_volume(raw: np.ndarray, h: _Header) -> np.ndarray:
    return _floats(raw, h).reshape(h.shape[:3], order="F")


def _stored_volume(raw: np.ndarray, h: _Header) -> np.ndarray:
    """A volume of ``exact_integers`` as those integers (native byte order), shaped (x, y, z)."""
    stored = np.dtype(h.datatype.numpy)
    return raw.view(stored.newbyteorder(h.endian)).astype(stored, copy=False).reshape(h.shape[:3], order="F")


def _floats(raw: np.ndarray, h: _Header) -> np.ndarray:
    """Stored bytes to scaled floats; the buffer is ours, so it is reused when it already is the floats."""
    stored = np.dtype(h.datatype.numpy).newbyteorder(h.endian)
    data = raw.view(stored).astype(h.output_dtype, copy=False)
    if h.scaling is not None:
        slope, inter = h.scaling
        data *= data.dtype.type(slope)
        data += data.dtype.type(inter)
    return data


def _report(opened: _Opened) -> Report:
    h = opened.header
    source, affine = h.affine_choice
    zooms = [float(z) for z in np.linalg.norm(affine[:3, :3], axis=0)]
    if len(h.shape) == 4:
        zooms.append(_num(float(h.get("pixdim")[4])))
    units_code = int(h.get("xyzt_units"))
    return Report(
        format=h.fmt,
        endianness="little" if h.endian == "<" else "big",
        compressed=h.compressed,
        shape=list(h.shape),
        dim=h.dim,
        zooms=zooms,
        datatype=h.datatype.name,
        bitpix=int(h.get("bitpix")),
        vox_offset=int(h.vox_offset),
        sform_code=int(h.get("sform_code")),
        qform_code=int(h.get("qform_code")),
        affine_source=source,
        affine=affine.tolist(),
        units={"space": _SPACE_UNITS.get(units_code & 0x07, "unknown"),
               "time": _TIME_UNITS.get(units_code & 0x38, "unknown")},
        scaling=None if h.scaling is None else {"slope": h.scaling[0], "inter": h.scaling[1]},
        intent_code=int(h.get("intent_code")),
        intent_params=[float(h.get(f"intent_p{i}")) for i in (1, 2, 3)],
        intent_name=_text(bytes(h.get("intent_name"))),
        descrip=_text(bytes(h.get("descrip"))),
        file_bytes=h.file_bytes,
        decompressed_bytes=h.total_bytes,
        data_bytes=h.data_bytes,
        findings=list(opened.findings),
    )

"""PCI Vital Product Data: the resource format of PCI Local Bus 3.0 section 6.4 / PCIe 6.28.

A VPD image is a run of resources. Large resources: a tag byte with bit 7 set (item name in bits 0-6),
a 16-bit little-endian length, the data. Small resources: bit 7 clear, item name in bits 3-6, length
in bits 0-2. This module knows the ones the specification defines:

- ``0x82`` identifier string (the product name),
- ``0x90`` VPD-R, read-only keywords, ended by ``RV`` whose first byte makes the sum of every byte
  from the start of the image through that byte zero (mod 256),
- ``0x91`` VPD-W, read-write keywords,
- ``0x78`` small end tag.

A keyword is two ASCII characters, a length byte and that many bytes of data: ``PN`` part number,
``EC`` engineering change level, ``SN`` serial number, ``MN`` manufacturer id, ``Vx`` vendor specific,
``Yx`` system specific, ``RV``/``RW`` reserved. Unknown keywords are kept, not rejected.

:func:`parse_vpd` never raises anything but :class:`VpdError` (whatever the input), which names what is
wrong and the offset where it was found. It performs no I/O; reading the sysfs file is the caller's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["Vpd", "VpdError", "parse_vpd"]

TAG_ID_STRING: Final = 0x82
TAG_VPD_R: Final = 0x90
TAG_VPD_W: Final = 0x91
TAG_END: Final = 0x78

# The largest VPD address space (15-bit addresses in the VPD capability).
MAX_VPD_SIZE: Final = 0x8000

_KEYWORD_RE: Final = re.compile(rb"^[A-Z0-9]{2}$")

KEYWORD_NAMES: Final = {
    "PN": "part number",
    "EC": "engineering change level",
    "SN": "serial number",
    "MN": "manufacturer id",
    "FG": "fabric geography",
    "LC": "location",
    "PG": "PCI geography",
    "CP": "extended capability",
    "RV": "checksum and reserved",
    "RW": "read-write area",
    "YA": "asset tag",
}


class VpdError(ValueError):
    """A VPD image that does not follow the resource format; the message says what and where."""


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("ascii", errors="replace")


@dataclass(frozen=True)
class Vpd:
    """One parsed VPD image. Keyword values are raw bytes; the properties give the usual ones as text."""

    product_name: str | None
    read_only: tuple[tuple[str, bytes], ...] = ()
    read_write: tuple[tuple[str, bytes], ...] = ()
    checksum_ok: bool | None = None  # None: the image has no RV keyword
    size: int = 0  # bytes up to and including the end tag

    def keyword(self, name: str) -> bytes | None:
        for key, value in self.read_only + self.read_write:
            if key == name:
                return value
        return None

    def _text_of(self, name: str) -> str | None:
        value = self.keyword(name)
        return None if value is None else _text(value)

    @property
    def part_number(self) -> str | None:
        return self._text_of("PN")

    @property
    def serial_number(self) -> str | None:
        return self._text_of("SN")

    @property
    def ec_level(self) -> str | None:
        return self._text_of("EC")

    @property
    def manufacturer_id(self) -> str | None:
        return self._text_of("MN")

    @property
    def vendor_fields(self) -> dict[str, str]:
        """``V0``..``VZ`` as text, in image order."""
        return {k: _text(v) for k, v in self.read_only + self.read_write if k[0] == "V"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "product_name": self.product_name,
            "part_number": self.part_number,
            "serial_number": self.serial_number,
            "ec_level": self.ec_level,
            "manufacturer_id": self.manufacturer_id,
            "vendor_fields": self.vendor_fields,
            "keywords": [
                {"section": sec, "keyword": k, "value": _text(v), "hex": v.hex()}
                for sec, kws in (("VPD-R", self.read_only), ("VPD-W", self.read_write))
                for k, v in kws
                if k not in ("RV", "RW")
            ],
            "checksum_ok": self.checksum_ok,
            "size": self.size,
        }


def _keywords(image: bytes, start: int, end: int, section: str) -> tuple[list[tuple[str, bytes]], int | None]:
    """Keywords of one VPD-R/VPD-W body; also the image offset of the RV checksum byte, if any."""
    out: list[tuple[str, bytes]] = []
    rv_at: int | None = None
    off = start
    while off < end:
        if end - off < 3:
            raise VpdError(f"{section}: keyword header cut short at offset {off} ({end - off} of 3 bytes)")
        key = image[off : off + 2]
        length = image[off + 2]
        if _KEYWORD_RE.match(key) is None:
            raise VpdError(f"{section}: keyword {key!r} at offset {off} is not two letters/digits")
        if off + 3 + length > end:
            raise VpdError(
                f"{section}: keyword {key.decode()} at offset {off} says {length} bytes, "
                f"only {end - off - 3} left in the section"
            )
        name = key.decode()
        value = image[off + 3 : off + 3 + length]
        if name == "RV":
            if section != "VPD-R":
                raise VpdError(f"RV keyword at offset {off} outside VPD-R")
            if length < 1:
                raise VpdError(f"RV keyword at offset {off} has no checksum byte")
            rv_at = off + 3
        out.append((name, value))
        off += 3 + length
        if name in ("RV", "RW"):
            # RV/RW end their section: what follows is reserved space.
            break
    return out, rv_at


def parse_vpd(data: bytes | bytearray | memoryview, *, verify_checksum: bool = True) -> Vpd:
    """Parse a VPD image (as read from ``/sys/bus/pci/devices/*/vpd``).

    Raises VpdError when the image is empty, truncated, has an unknown resource tag, a length past
    the end, a missing end tag, or (with ``verify_checksum``) a wrong RV checksum.
    """
    image = bytes(data)
    if not image:
        raise VpdError("empty VPD image")
    if len(image) > MAX_VPD_SIZE:
        image = image[:MAX_VPD_SIZE]
    product: str | None = None
    ro: list[tuple[str, bytes]] = []
    rw: list[tuple[str, bytes]] = []
    seen: set[int] = set()
    checksum_ok: bool | None = None
    off = 0
    while True:
        if off >= len(image):
            raise VpdError(f"no end tag (0x78) before the image ends at offset {len(image)}")
        tag = image[off]
        if tag & 0x80 == 0:
            item, length = (tag >> 3) & 0x0F, tag & 0x07
            if item == 0x0F:
                return Vpd(product, tuple(ro), tuple(rw), checksum_ok, off + 1 + length)
            raise VpdError(f"unknown small resource tag 0x{tag:02x} at offset {off}")
        if off + 3 > len(image):
            raise VpdError(f"large resource 0x{tag:02x} at offset {off}: length cut short")
        length = image[off + 1] | (image[off + 2] << 8)
        body, end = off + 3, off + 3 + length
        if end > len(image):
            raise VpdError(
                f"resource 0x{tag:02x} at offset {off} says {length} bytes, only {len(image) - body} left"
            )
        if tag not in (TAG_ID_STRING, TAG_VPD_R, TAG_VPD_W):
            raise VpdError(f"unknown large resource tag 0x{tag:02x} at offset {off}")
        if tag in seen:
            raise VpdError(f"second resource 0x{tag:02x} at offset {off}")
        seen.add(tag)
        if tag == TAG_ID_STRING:
            product = _text(image[body:end])
        elif tag == TAG_VPD_R:
            ro, rv_at = _keywords(image, body, end, "VPD-R")
            if rv_at is not None:
                checksum_ok = sum(image[: rv_at + 1]) & 0xFF == 0
                if verify_checksum and not checksum_ok:
                    raise VpdError(
                        f"RV checksum at offset {rv_at}: bytes 0..{rv_at} sum to "
                        f"0x{sum(image[: rv_at + 1]) & 0xFF:02x}, not 0"
                    )
        else:
            rw, _ = _keywords(image, body, end, "VPD-W")
        off = end

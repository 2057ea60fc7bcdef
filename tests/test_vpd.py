"""The PCI VPD parser (xdpkt._vpd): synthetic images built here from the resource format, and a fuzz
test showing that no input raises anything but VpdError."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xdpkt._vpd import Vpd, VpdError, parse_vpd
from xdpkt.ethtool import read_vpd_file


def large(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + len(body).to_bytes(2, "little") + body


def kw(name: str, value: bytes) -> bytes:
    return name.encode() + bytes([len(value)]) + value


def image(
    product: bytes = b"Example 25GbE Adapter",
    ro: list[tuple[str, bytes]] | None = None,
    rw: list[tuple[str, bytes]] | None = None,
    *,
    checksum_delta: int = 0,
    with_rv: bool = True,
) -> bytes:
    """A VPD image with a correct RV checksum (off by ``checksum_delta`` when asked)."""
    if ro is None:
        ro = [
            ("PN", b"X710-DA2"),
            ("EC", b"K12345-001"),
            ("SN", b"A1B2C3D4E5"),
            ("MN", b"8086"),
            ("V0", b"FW 9.2"),
        ]
    out = large(0x82, product)
    ro_body = b"".join(kw(k, v) for k, v in ro)
    if with_rv:
        # RV: checksum byte then reserved zeros; the checksum makes bytes 0..checksum sum to 0.
        ro_body_rv = ro_body + b"RV" + bytes([4])
        head = out + bytes([0x90]) + (len(ro_body_rv) + 4).to_bytes(2, "little") + ro_body_rv
        csum = (-sum(head)) & 0xFF
        ro_body = ro_body_rv + bytes([(csum + checksum_delta) & 0xFF]) + b"\0\0\0"
    out += large(0x90, ro_body)
    if rw is not None:
        out += large(0x91, b"".join(kw(k, v) for k, v in rw))
    return out + b"\x78"


def test_valid_image_fields() -> None:
    v = parse_vpd(image(rw=[("V1", b"rw-vendor"), ("YA", b"asset-7"), ("RW", b"\0" * 8)]))
    assert v.product_name == "Example 25GbE Adapter"
    assert v.part_number == "X710-DA2"
    assert v.ec_level == "K12345-001"
    assert v.serial_number == "A1B2C3D4E5"
    assert v.manufacturer_id == "8086"
    assert v.vendor_fields == {"V0": "FW 9.2", "V1": "rw-vendor"}
    assert v.keyword("YA") == b"asset-7"
    assert v.checksum_ok is True
    d = v.to_dict()
    assert d["part_number"] == "X710-DA2"
    assert {k["keyword"] for k in d["keywords"]} == {"PN", "EC", "SN", "MN", "V0", "V1", "YA"}


def test_trailing_bytes_after_end_tag_are_ignored() -> None:
    raw = image()
    v = parse_vpd(raw + b"\xff" * 200)
    assert v.size == len(raw)


def test_without_rv_checksum_is_reported_absent() -> None:
    v = parse_vpd(image(with_rv=False))
    assert v.checksum_ok is None
    assert v.serial_number == "A1B2C3D4E5"


def test_wrong_checksum() -> None:
    bad = image(checksum_delta=1)
    with pytest.raises(VpdError, match="RV checksum"):
        parse_vpd(bad)
    assert parse_vpd(bad, verify_checksum=False).checksum_ok is False


def test_unknown_keywords_are_kept() -> None:
    v = parse_vpd(image(ro=[("PN", b"P1"), ("ZZ", b"\x01\x02"), ("Q7", b"seven")]))
    assert v.keyword("ZZ") == b"\x01\x02"
    assert v.keyword("Q7") == b"seven"
    assert v.part_number == "P1"


@pytest.mark.parametrize("cut", range(1, 60))
def test_every_truncation_is_a_vpd_error(cut: int) -> None:
    raw = image()
    assert cut < len(raw)
    with pytest.raises(VpdError):
        parse_vpd(raw[:cut])


def test_empty() -> None:
    with pytest.raises(VpdError, match="empty"):
        parse_vpd(b"")


def test_oversized_resource_length() -> None:
    raw = bytearray(image())
    raw[1:3] = (0xFFFF).to_bytes(2, "little")  # identifier string says 65535 bytes
    with pytest.raises(VpdError, match="says 65535 bytes"):
        parse_vpd(bytes(raw))


def test_oversized_keyword_length() -> None:
    body = b"PN" + bytes([200]) + b"short"
    raw = large(0x82, b"x") + large(0x90, body) + b"\x78"
    with pytest.raises(VpdError, match=r"keyword PN .* says 200 bytes"):
        parse_vpd(raw)


def test_bad_keyword_name_and_unknown_tags() -> None:
    with pytest.raises(VpdError, match="not two letters"):
        parse_vpd(large(0x90, b"p\x01" + bytes([1]) + b"x") + b"\x78")
    with pytest.raises(VpdError, match="unknown large resource tag 0x84"):
        parse_vpd(large(0x84, b"abc") + b"\x78")
    with pytest.raises(VpdError, match="unknown small resource tag 0x00"):
        parse_vpd(b"\x00")
    with pytest.raises(VpdError, match="second resource 0x82"):
        parse_vpd(large(0x82, b"a") + large(0x82, b"b") + b"\x78")
    with pytest.raises(VpdError, match=r"RV keyword .* outside VPD-R"):
        parse_vpd(large(0x91, b"RV\x01\x00") + b"\x78")


def test_missing_end_tag() -> None:
    with pytest.raises(VpdError, match="no end tag"):
        parse_vpd(large(0x82, b"abc"))


def test_read_vpd_file(tmp_path: Path) -> None:
    good = tmp_path / "vpd"
    good.write_bytes(image())
    v, err = read_vpd_file(str(good))
    assert isinstance(v, Vpd) and err is None and v.part_number == "X710-DA2"

    assert read_vpd_file(str(tmp_path / "absent")) == (None, None)

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    v, err = read_vpd_file(str(empty))
    assert v is None and err is not None and "empty" in err

    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(image(checksum_delta=3))
    v, err = read_vpd_file(str(corrupt))
    assert v is None and err is not None and "RV checksum" in err

    # A directory where the file should be: reading fails with a clear message, no exception.
    unreadable = tmp_path / "dir"
    unreadable.mkdir()
    v, err = read_vpd_file(str(unreadable))
    assert v is None and err is not None and "cannot read" in err

    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.write_bytes(image())
        locked.chmod(0)
        v, err = read_vpd_file(str(locked))
        assert v is None and err is not None and "cannot read" in err
        locked.chmod(stat.S_IRUSR)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_only_vpd_error(data: bytes) -> None:
    try:
        parse_vpd(data)
    except VpdError:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=6),
    st.integers(0, 120),
    st.binary(max_size=4),
)
def test_fuzz_structured_mutations_only_vpd_error(
    edits: list[tuple[int, bytes]], cut: int, tail: bytes
) -> None:
    """Start from a valid image, overwrite bytes, cut it and append junk: VpdError or a result."""
    raw = bytearray(image(rw=[("V2", b"abc"), ("RW", b"\0\0")]))
    for pos, chunk in edits:
        p = pos % len(raw)
        raw[p : p + len(chunk)] = chunk
    data = bytes(raw[: max(1, len(raw) - cut)]) + tail
    try:
        v = parse_vpd(data)
    except VpdError:
        return
    assert isinstance(v, Vpd)
    v.to_dict()

"""The ISO writer checked by pycdlib and blkid (independent readers), and our reader."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pycdlib
import pytest

from barecloud.agent import iso9660

FILES = {
    "openstack/latest/meta_data.json": b'{"uuid": "u-1"}',
    "openstack/latest/vendor_data.json": b"{}",
    "openstack/latest/vendor_data2.json": b'{"x": 1}',
    "openstack/latest/user_data": b"#cloud-config\nhostname: h\n",
    "openstack/2012-08-10/meta_data.json": b'{"uuid": "u-1"}',
    "openstack/content/0000": bytes(range(256)) * 40,  # spans several sectors
    "a-file-name-of-exactly-sixty-four-characters-for-joliet-name.txt": b"long",
    "empty": b"",
}


def _pycdlib(image: bytes) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(image))
    return iso


def _pycdlib_read(iso: pycdlib.PyCdlib, **path: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


def test_pycdlib_reads_every_joliet_path_and_the_label() -> None:
    image = iso9660.build(FILES, "config-2")
    iso = _pycdlib(image)
    assert iso.pvd.volume_identifier.rstrip() == b"config-2"
    assert iso.joliet_vd is not None
    assert iso.joliet_vd.volume_identifier.decode("utf-16-be").rstrip() == "config-2"
    for path, content in FILES.items():
        assert _pycdlib_read(iso, joliet_path="/" + path) == content
    iso.close()


def test_primary_names_are_unique_8_3_names() -> None:
    iso = _pycdlib(iso9660.build(FILES, "config-2"))
    names = {}
    for root, _dirs, files in iso.walk(iso_path="/"):
        names[root] = files
    latest = names["/OPENSTAC/LATEST"]
    assert sorted(latest) == ["META_DAT.JSO;1", "USER_DAT.;1", "VENDOR_1.JSO;1",
                              "VENDOR_D.JSO;1"]
    assert _pycdlib_read(iso, iso_path="/OPENSTAC/LATEST/USER_DAT.;1") == FILES[
        "openstack/latest/user_data"]
    assert "2012_08_" in [d.rsplit("/", 1)[-1] for d in names]


def test_blkid_sees_an_iso9660_file_system_labelled_config_2(tmp_path: Path) -> None:
    path = tmp_path / "drive.iso"
    path.write_bytes(iso9660.build(FILES, "config-2"))
    out = subprocess.run(["blkid", "-p", "-o", "export", str(path)], capture_output=True,
                         text=True, check=True).stdout
    assert "TYPE=iso9660" in out.splitlines()
    assert "LABEL=config-2" in out.splitlines()


def test_reader_finds_files_by_joliet_path_at_an_offset() -> None:
    image = iso9660.build(FILES, "config-2")
    disk = io.BytesIO(b"\xaa" * 12345 + image + b"\xbb" * 100)
    iso = iso9660.IsoImage(disk, 12345)
    assert iso.label == "config-2"
    assert iso.joliet
    assert iso.size == len(image)
    for path, content in FILES.items():
        assert iso.read(path) == content
        assert iso.read("/" + path.upper()) == content  # Joliet lookups fall back to no case
    assert sorted(iso.walk()) == sorted("/" + p for p in FILES)
    assert sorted(iso.listdir("/openstack")) == ["2012-08-10", "content", "latest"]


def test_reader_uses_primary_names_when_there_is_no_joliet_tree() -> None:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=1, vol_ident="CONFIG2")
    data = b"plain iso"
    iso.add_fp(io.BytesIO(data), len(data), "/META.JSO;1")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    reader = iso9660.IsoImage(io.BytesIO(out.getvalue()))
    assert not reader.joliet
    assert reader.label == "CONFIG2"
    assert reader.read("/meta.jso") == data


def test_reader_reads_a_genisoimage_style_joliet_image_made_by_pycdlib() -> None:
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3, vol_ident="config-2")
    iso.add_directory("/OPENSTAC", joliet_path="/openstack")
    iso.add_directory("/OPENSTAC/LATEST", joliet_path="/openstack/latest")
    data = b'{"hostname": "from-pycdlib"}'
    iso.add_fp(io.BytesIO(data), len(data), "/OPENSTAC/LATEST/META_DAT.JSO;1",
               joliet_path="/openstack/latest/meta_data.json")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    reader = iso9660.IsoImage(io.BytesIO(out.getvalue()))
    assert reader.read("/openstack/latest/meta_data.json") == data


def test_reader_errors() -> None:
    image = iso9660.build(FILES, "config-2")
    iso = iso9660.IsoImage(io.BytesIO(image))
    with pytest.raises(iso9660.IsoError, match="not in the image"):
        iso.read("/openstack/latest/nope")
    with pytest.raises(iso9660.IsoError, match="is a directory"):
        iso.read("/openstack")
    with pytest.raises(iso9660.IsoError, match="no ISO 9660"):
        iso9660.IsoImage(io.BytesIO(b"\x00" * 40000))
    assert iso9660.label_at(io.BytesIO(b"\x00" * 40000)) is None
    assert iso9660.label_at(io.BytesIO(image)) == "config-2"


def test_writer_rejects_bad_paths_and_labels() -> None:
    with pytest.raises(iso9660.IsoError, match="invalid path"):
        iso9660.build({"a/../b": b""}, "x")
    with pytest.raises(iso9660.IsoError, match="longer than 64"):
        iso9660.build({"x" * 65: b""}, "x")
    with pytest.raises(iso9660.IsoError, match="is a file"):
        iso9660.build({"a": b"", "a/b": b""}, "x")
    with pytest.raises(iso9660.IsoError, match="label"):
        iso9660.build({"a": b""}, "a-label-longer-than-16")


def test_a_big_directory_spans_sectors() -> None:
    files = {f"dir/file-with-a-longish-name-{i:04d}.json": str(i).encode() for i in range(300)}
    image = iso9660.build(files, "config-2")
    iso = _pycdlib(image)
    assert _pycdlib_read(iso, joliet_path="/dir/file-with-a-longish-name-0299.json") == b"299"
    reader = iso9660.IsoImage(io.BytesIO(image))
    assert len(reader.listdir("/dir")) == 300
    assert reader.read("dir/file-with-a-longish-name-0150.json") == b"150"

"""pycrash.elfsections: SHF_COMPRESSED sections come back as stored before compression
(objcopy compresses a freshly compiled object here; its uncompressed twin is the truth)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pycrash.elfsections import SHF_COMPRESSED, ElfFormatError, read_section, section_headers


def _sections(path: Path) -> dict[str, bytes]:
    with open(path, "rb") as f:
        headers = section_headers(f)
        return {h.name: read_section(f, h) for h in headers if h.name.startswith(".debug_")}


@pytest.mark.parametrize("kind", ["zlib", "zstd"])
def test_compressed_debug_sections(tmp_path: Path, kind: str) -> None:
    gcc, objcopy = shutil.which("gcc"), shutil.which("objcopy")
    if gcc is None or objcopy is None:
        pytest.skip("no gcc/objcopy")
    src = tmp_path / "a.c"
    src.write_text("struct pair { long a, b; } pair_v;\nint main(void) { return 0; }\n")
    plain, packed = tmp_path / "a.o", tmp_path / f"a-{kind}.o"
    subprocess.run([gcc, "-c", "-g", "-o", str(plain), str(src)], check=True)
    done = subprocess.run([objcopy, f"--compress-debug-sections={kind}", str(plain),
                           str(packed)], capture_output=True)
    if done.returncode:
        pytest.skip(f"objcopy cannot compress with {kind}")
    if kind == "zstd":
        pytest.importorskip("zstandard")
    with open(packed, "rb") as f:
        flags = {h.name: h.flags for h in section_headers(f)}
    assert flags[".debug_info"] & SHF_COMPRESSED
    assert _sections(packed) == _sections(plain)


def test_damaged_compressed_section_is_one_line(tmp_path: Path) -> None:
    gcc, objcopy = shutil.which("gcc"), shutil.which("objcopy")
    if gcc is None or objcopy is None:
        pytest.skip("no gcc/objcopy")
    src = tmp_path / "a.c"
    # big enough for objcopy to find compressing worth it
    src.write_text("".join(f"struct s{i} {{ long a{i}; int b{i}; }} v{i};\n" for i in range(50)))
    plain, packed = tmp_path / "a.o", tmp_path / "a-z.o"
    subprocess.run([gcc, "-c", "-g", "-o", str(plain), str(src)], check=True)
    subprocess.run([objcopy, "--compress-debug-sections=zlib", str(plain), str(packed)],
                   check=True)
    data = bytearray(packed.read_bytes())
    with open(packed, "rb") as f:
        info = next(h for h in section_headers(f) if h.name == ".debug_info")
    assert info.flags & SHF_COMPRESSED
    data[info.offset + 24:info.offset + 28] = b"\xff\xff\xff\xff"  # past the Elf64_Chdr
    packed.write_bytes(bytes(data))
    with open(packed, "rb") as f, pytest.raises(ElfFormatError) as err:
        read_section(f, info)
    assert str(err.value).startswith(f"{packed}: .debug_info: ") and "\n" not in str(err.value)
    assert err.value.offset == info.offset

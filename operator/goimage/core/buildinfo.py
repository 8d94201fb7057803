"""Go build information read out of a binary's bytes, as `go version -m` shows it.

The Go toolchain stamps every binary it links with its version and the module
information (`runtime/debug.BuildInfo`): the main module, every dependency
module with its version and go.sum hash, `=>` replacements, and the build
settings (-tags, -trimpath, CGO_ENABLED, GOOS, GOARCH, GOAMD64, ...). The SBOM
of an image comes from this, not from the source tree: it names what the
binary was made of, not what go.mod asked for.

This module owns that reading, in pure Python and for ELF files (the only
format a Linux image runs): the ELF program and section headers, the
`\\xff Go buildinf:` header in `.go.buildinfo` (or the first writable
non-executable segment), the version and modinfo strings inline after it
(Go 1.18 and later: flags bit 2, each string prefixed by a uvarint length),
and the modinfo text itself. It follows Go's own `debug/buildinfo` and
`runtime/debug.ParseBuildInfo`; `render` prints the result the way
`go version -m` does, so the tests can hold it against the real tool.

It also owns `elf_info`: the ELF machine as a GOARCH and whether the file is
statically linked, which a multi-platform build checks of each platform's
binary.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

_MAGIC = b"\xff Go buildinf:"
_ALIGN = 16
_HEADER_SIZE = 32
_FLAGS_OFFSET = 15
_FLAG_INLINE_STRINGS = 0x2

_PT_LOAD = 1
_PT_DYNAMIC = 2
_PT_INTERP = 3
_PF_X = 0x1
_PF_W = 0x2

# e_machine -> GOARCH; where one machine covers several GOARCHes, the class
# (32/64 bit) and byte order tell them apart.
_MACHINES: dict[int, dict[tuple[int, str], str]] = {
    3: {(32, "little"): "386"},
    62: {(64, "little"): "amd64"},
    40: {(32, "little"): "arm"},
    183: {(64, "little"): "arm64"},
    243: {(64, "little"): "riscv64"},
    22: {(64, "big"): "s390x"},
    258: {(64, "little"): "loong64"},
    21: {(64, "big"): "ppc64", (64, "little"): "ppc64le"},
    8: {
        (32, "big"): "mips",
        (32, "little"): "mipsle",
        (64, "big"): "mips64",
        (64, "little"): "mips64le",
    },
}


class BuildInfoError(ValueError):
    """The bytes are not an ELF file, or not a Go binary with build information."""


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""  # go.sum's "h1:..." hash; empty for the main module and local replacements
    replace: Module | None = None


@dataclass(frozen=True)
class BuildInfo:
    go_version: str  # "go1.26.8"
    path: str  # the main package's import path
    main: Module | None
    deps: tuple[Module, ...]
    settings: tuple[tuple[str, str], ...]  # in the binary's order; keys may repeat in theory

    def setting(self, key: str) -> str | None:
        """The last value of a build setting (`GOOS`, `-tags`, ...), or None."""
        found = None
        for name, value in self.settings:
            if name == key:
                found = value
        return found

    @property
    def goos(self) -> str | None:
        return self.setting("GOOS")

    @property
    def goarch(self) -> str | None:
        return self.setting("GOARCH")

    @property
    def cgo_enabled(self) -> bool | None:
        value = self.setting("CGO_ENABLED")
        return None if value is None else value == "1"

    @property
    def tags(self) -> tuple[str, ...]:
        value = self.setting("-tags")
        return tuple(tag for tag in value.split(",") if tag) if value else ()


@dataclass(frozen=True)
class ElfInfo:
    machine: int  # e_machine
    arch: str | None  # the GOARCH that machine, class and byte order name; None when unknown
    bits: int  # 32 or 64
    byte_order: Literal["little", "big"]
    interpreter: str | None  # PT_INTERP's path (a dynamically linked program's loader)
    dynamic: bool  # has a PT_DYNAMIC segment

    @property
    def static(self) -> bool:
        """Statically linked: no loader and no dynamic section, what `file` calls static."""
        return self.interpreter is None and not self.dynamic


@dataclass(frozen=True)
class _Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class _Section:
    name: str
    addr: int
    size: int


@dataclass(frozen=True)
class _Elf:
    data: bytes
    machine: int
    bits: int
    byte_order: Literal["little", "big"]
    segments: tuple[_Segment, ...]
    sections: tuple[_Section, ...]

    def read(self, addr: int, size: int) -> bytes:
        """Bytes at a virtual address, cut at the end of the segment that holds it.

        Like Go's reader: the first segment (of any type) whose file-backed
        bytes contain the address.
        """
        for seg in self.segments:
            if seg.filesz and seg.vaddr <= addr <= seg.vaddr + seg.filesz - 1:
                start = seg.offset + (addr - seg.vaddr)
                end = min(start + size, seg.offset + seg.filesz, len(self.data))
                return self.data[start:end]
        raise BuildInfoError(f"address {addr:#x} is in no segment of the file")


def _parse_elf(data: bytes) -> _Elf:
    if len(data) < 16 or not data.startswith(b"\x7fELF"):
        raise BuildInfoError("not an ELF file")
    bits = {1: 32, 2: 64}.get(data[4])
    order: Literal["little", "big"] | None = {1: "little", 2: "big"}.get(data[5])  # type: ignore[assignment]
    if bits is None or order is None:
        raise BuildInfoError("not an ELF file: bad class or byte order")
    end = "<" if order == "little" else ">"
    try:
        if bits == 64:
            (machine,) = struct.unpack_from(end + "H", data, 18)
            phoff, shoff = struct.unpack_from(end + "QQ", data, 32)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                end + "HHHHH", data, 54
            )
        else:
            (machine,) = struct.unpack_from(end + "H", data, 18)
            phoff, shoff = struct.unpack_from(end + "II", data, 28)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                end + "HHHHH", data, 42
            )
        segments = tuple(_segments(data, bits, end, phoff, phentsize, phnum))
        sections = tuple(_sections(data, bits, end, shoff, shentsize, shnum, shstrndx))
    except struct.error as err:
        raise BuildInfoError(f"truncated ELF file: {err}") from err
    return _Elf(data, machine, bits, order, segments, sections)


def _segments(
    data: bytes, bits: int, end: str, phoff: int, phentsize: int, phnum: int
) -> Iterator[_Segment]:
    for i in range(phnum):
        at = phoff + i * phentsize
        if bits == 64:
            p_type, flags, offset, vaddr, _paddr, filesz, memsz = struct.unpack_from(
                end + "IIQQQQQ", data, at
            )
        else:
            p_type, offset, vaddr, _paddr, filesz, memsz, flags = struct.unpack_from(
                end + "IIIIIII", data, at
            )
        yield _Segment(p_type, flags, offset, vaddr, filesz, memsz)


def _sections(
    data: bytes, bits: int, end: str, shoff: int, shentsize: int, shnum: int, shstrndx: int
) -> Iterator[_Section]:
    if shoff == 0:
        return
    layout = end + ("IIQQQQ" if bits == 64 else "IIIIII")  # name, type, flags, addr, offset, size
    raw = []
    if shnum == 0:
        # Extended numbering: the count is section 0's size, the string table's
        # index (SHN_XINDEX) its link.
        *_, zero_size = struct.unpack_from(layout, data, shoff)
        shnum = zero_size
    for i in range(shnum):
        name, _type, _flags, addr, offset, size = struct.unpack_from(
            layout, data, shoff + i * shentsize
        )
        raw.append((name, addr, offset, size))
    if shstrndx == 0xFFFF:
        link_at = shoff + (40 if bits == 64 else 24)
        (shstrndx,) = struct.unpack_from(end + "I", data, link_at)
    if not 0 <= shstrndx < len(raw):
        return
    _, _, str_offset, str_size = raw[shstrndx]
    strings = data[str_offset : str_offset + str_size]
    for name, addr, _offset, size in raw:
        stop = strings.find(b"\0", name)
        label = strings[name : stop if stop >= 0 else len(strings)].decode("utf-8", "replace")
        yield _Section(label, addr, size)


def elf_info(data: bytes) -> ElfInfo:
    """The ELF header's machine as a GOARCH, and how the file is linked."""
    elf = _parse_elf(data)
    interpreter = None
    for seg in elf.segments:
        if seg.type == _PT_INTERP:
            raw = data[seg.offset : seg.offset + seg.filesz]
            interpreter = raw.rstrip(b"\0").decode("utf-8", "replace")
    return ElfInfo(
        machine=elf.machine,
        arch=_MACHINES.get(elf.machine, {}).get((elf.bits, elf.byte_order)),
        bits=elf.bits,
        byte_order=elf.byte_order,
        interpreter=interpreter,
        dynamic=any(seg.type == _PT_DYNAMIC for seg in elf.segments),
    )


def _data_start(elf: _Elf) -> tuple[int, int]:
    for section in elf.sections:
        if section.name == ".go.buildinfo":
            return section.addr, section.size
    # A file without section headers: Go puts the build info at the start of
    # the first writable, non-executable loaded segment.
    for seg in elf.segments:
        if seg.type == _PT_LOAD and seg.flags & (_PF_X | _PF_W) == _PF_W:
            return seg.vaddr, seg.memsz
    return 0, 0


def _find_magic(elf: _Elf, start: int, size: int) -> int:
    end = start + size
    start = (start + _ALIGN - 1) & ~(_ALIGN - 1)
    if start >= end:
        raise BuildInfoError("not a Go binary: no build information")
    chunk = elf.read(start, end - start)
    at = chunk.find(_MAGIC)
    while at >= 0:
        if at % _ALIGN == 0:
            if len(chunk) - at < _HEADER_SIZE:
                break
            return start + at
        at = chunk.find(_MAGIC, at + 1)
    raise BuildInfoError("not a Go binary: no build information")


def _uvarint(data: bytes) -> tuple[int, int]:
    """Go's binary.Uvarint: the value and how many bytes it took (0 if malformed)."""
    value = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return value, i + 1
    return 0, 0


def _inline_string(elf: _Elf, addr: int) -> tuple[bytes, int]:
    length, used = _uvarint(elf.read(addr, 10))
    if used == 0:
        raise BuildInfoError("not a Go binary: malformed build information")
    addr += used
    text = elf.read(addr, length)
    if len(text) < length:
        raise BuildInfoError("not a Go binary: truncated build information")
    return text, addr + length


def read_raw(data: bytes) -> tuple[str, str]:
    """The Go version and the modinfo text a binary carries (modinfo empty when none)."""
    elf = _parse_elf(data)
    start, size = _data_start(elf)
    if size == 0:
        raise BuildInfoError("not a Go binary: no data segment")
    addr = _find_magic(elf, start, size)
    header = elf.read(addr, _HEADER_SIZE)
    if header[_FLAGS_OFFSET] & _FLAG_INLINE_STRINGS == 0:
        # Before Go 1.18 the header held pointers to Go string headers instead.
        raise BuildInfoError("build information of Go before 1.18 is not supported")
    version, addr = _inline_string(elf, addr + _HEADER_SIZE)
    mod, _ = _inline_string(elf, addr)
    if not version:
        raise BuildInfoError("not a Go binary: empty Go version")
    # The linker frames modinfo with 16 sentinel bytes on each side.
    mod = mod[16:-16] if len(mod) >= 33 and mod[-17:-16] == b"\n" else b""
    return version.decode("utf-8", "surrogateescape"), mod.decode("utf-8", "surrogateescape")


def read_build_info(data: bytes) -> BuildInfo:
    """A Go ELF binary's build information (`debug/buildinfo.Read`)."""
    version, mod = read_raw(data)
    return parse_modinfo(mod, go_version=version)


def parse_modinfo(text: str, *, go_version: str = "") -> BuildInfo:
    """`runtime/debug.ParseBuildInfo`: the modinfo lines to a BuildInfo."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    last: Literal["main", "dep"] | None = None
    lines = text.split("\n")[:-1]  # Go ignores a last line without its newline
    for number, line in enumerate(lines, start=1):
        word, tab, rest = line.partition("\t")
        try:
            if word == "path" and tab:
                path = rest
            elif word in ("mod", "dep") and tab:
                module = _module(rest.split("\t"))
                if word == "mod":
                    main, last = module, "main"
                else:
                    deps.append(module)
                    last = "dep"
            elif word == "=>" and tab:
                cols = rest.split("\t")
                if len(cols) != 3:
                    raise ValueError(f"expected 3 columns for replacement; got {len(cols)}")
                replacement = Module(cols[0], cols[1], cols[2])
                if last == "main" and main is not None:
                    main = Module(main.path, main.version, main.sum, replacement)
                elif last == "dep":
                    old = deps[-1]
                    deps[-1] = Module(old.path, old.version, old.sum, replacement)
                else:
                    raise ValueError("replacement with no module on previous line")
                last = None
            elif word == "build" and tab:
                settings.append(_setting(rest))
        except ValueError as err:
            raise BuildInfoError(f"could not parse Go build info: line {number}: {err}") from err
    return BuildInfo(go_version, path, main, tuple(deps), tuple(settings))


def _module(cols: list[str]) -> Module:
    if len(cols) not in (2, 3):
        raise ValueError(f"expected 2 or 3 columns; got {len(cols)}")
    return Module(cols[0], cols[1], cols[2] if len(cols) == 3 else "")


def _needs_quoted_key(key: str) -> bool:
    return key == "" or any(c in key for c in '= \t\r\n"`')


def _needs_quoted_value(value: str) -> bool:
    return any(c in value for c in ' \t\r\n"`')


def _setting(kv: str) -> tuple[str, str]:
    if not kv:
        raise ValueError("build line missing '='")
    if kv[0] == "=":
        raise ValueError("build line with missing key")
    if kv[0] in '`"':
        raw_key = _quoted_prefix(kv)
        if len(kv) == len(raw_key):
            raise ValueError("build line missing '=' after quoted key")
        if kv[len(raw_key)] != "=":
            raise ValueError(f"unexpected character after quoted key: {kv[len(raw_key)]!r}")
        key = _unquote(raw_key)
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, eq, raw_value = kv.partition("=")
        if not eq:
            raise ValueError("build line missing '=' after key")
        if _needs_quoted_key(key):
            raise ValueError(f"unquoted key {key!r} must be quoted")
    if raw_value[:1] in ("`", '"'):
        value = _unquote(raw_value)
    else:
        value = raw_value
        if _needs_quoted_value(value):
            raise ValueError(f"unquoted value {value!r} must be quoted")
    return key, value


def _quoted_prefix(text: str) -> str:
    """strconv.QuotedPrefix for the two quote kinds build lines use."""
    quote = text[0]
    i = 1
    while i < len(text):
        c = text[i]
        if c == quote:
            return text[: i + 1]
        if quote == '"' and c == "\\":
            i += 1
        elif quote == '"' and c == "\n":
            break
        i += 1
    raise ValueError("invalid quoted key in build line")


_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _unquote(raw: str) -> str:
    """strconv.Unquote of a Go back-quoted or double-quoted string literal."""
    if len(raw) < 2 or raw[0] != raw[-1]:
        raise ValueError(f"invalid quoted string {raw!r}")
    body = raw[1:-1]
    if raw[0] == "`":
        if "`" in body:
            raise ValueError(f"invalid quoted string {raw!r}")
        return body.replace("\r", "")
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == '"' or c == "\n":
            raise ValueError(f"invalid quoted string {raw!r}")
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        esc = body[i + 1 : i + 2]
        if esc in _SIMPLE_ESCAPES and esc != "'":
            out += _SIMPLE_ESCAPES[esc].encode()
            i += 2
        elif esc in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"invalid escape in {raw!r}")
            number = int(digits, 16)
            out += bytes([number]) if esc == "x" else chr(number).encode("utf-8", "surrogatepass")
            i += 2 + width
        elif esc in "01234567" and esc:
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError(f"invalid escape in {raw!r}")
            out.append(int(digits, 8))
            i += 4
        else:
            raise ValueError(f"invalid escape in {raw!r}")
    return out.decode("utf-8", "surrogateescape")


def _go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted Go literal, with non-printable runes escaped."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    out = ['"']
    for c in text:
        code = ord(c)
        if c in named:
            out.append(named[c])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif c == " " or (c.isprintable() and code != 0x7F):
            out.append(c)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def render(info: BuildInfo) -> str:
    """The build information as `go version -m FILE` prints it (its lines after the first)."""
    lines = []
    if info.path:
        lines.append(f"path\t{info.path}")

    def module(word: str, mod: Module) -> None:
        if mod.replace is None:
            lines.append(f"{word}\t{mod.path}\t{mod.version}\t{mod.sum}")
        else:
            lines.append(f"{word}\t{mod.path}\t{mod.version}")
            module("=>", mod.replace)
            lines.append("")  # Go's String() ends a replaced module with an empty line

    if info.main is not None:
        module("mod", info.main)
    for dep in info.deps:
        module("dep", dep)
    for key, value in info.settings:
        shown_key = _go_quote(key) if _needs_quoted_key(key) else key
        shown_value = _go_quote(value) if _needs_quoted_value(value) else value
        lines.append(f"build\t{shown_key}={shown_value}")
    return "".join(f"\t{line}\n" for line in lines)

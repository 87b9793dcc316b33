#!/usr/bin/env python3
"""Make the Fashion-MNIST sample that ships inside keraslab (keraslab/data/sample/).

The sample is a class-balanced subset of the original Fashion-MNIST files (Xiao, Rasul & Vollgraf,
2017, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms"):
400 images per class from the training set (4,000) and 100 per class from the test set (1,000),
written as gzipped IDX files with the original names, plus ``SHA256SUMS`` and ``LICENSE``.

The choice is deterministic and independent of NumPy's random generators, whose streams may
change between releases: within each class, the images are ranked by the BLAKE2b hash of
``"<SEED>:<split>:<index>"`` and the lowest-ranked ones are kept, in their original order. The
gzip streams carry no name and no timestamp, so the output is byte-for-byte reproducible with the
same zlib build (a different zlib, e.g. zlib-ng, may compress differently; ``--check`` then says
the pixels and labels are still identical).

Usage::

    python scripts/make_fashion_mnist_sample.py            # (re)write keraslab/data/sample/
    python scripts/make_fashion_mnist_sample.py --check    # regenerate in a temp dir and compare
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from keraslab.data.formats import read_idx_pair, write_idx

SEED = "keraslab-fashion-mnist-sample-v1"
PER_CLASS = {"train": 400, "test": 100}
PREFIX = {"train": "train", "test": "t10k"}
NUM_CLASSES = 10
DEFAULT_SOURCE = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "keraslab" / "data" / "sample"
DATA_FILES = [
    f"{PREFIX[split]}-{kind}.gz"
    for split in ("train", "test")
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")
]

MIT_TEXT = """\
The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pick(labels: np.ndarray, split: str, per_class: int) -> np.ndarray:
    """Indices of ``per_class`` examples of each class, ascending (see the module docstring)."""
    chosen = []
    for c in range(NUM_CLASSES):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise SystemExit(f"{split}: class {c} has only {len(members)} examples")
        rank = sorted(
            members.tolist(),
            key=lambda i: hashlib.blake2b(f"{SEED}:{split}:{i}".encode(), digest_size=8).digest(),
        )
        chosen += rank[:per_class]
    return np.sort(np.asarray(chosen, dtype=np.int64))


def license_text(originals: dict[str, str]) -> str:
    lines = [
        "keraslab/data/sample/: a class-balanced subset of Fashion-MNIST",
        "=" * 64,
        "",
        "These IDX files hold 4,000 training images (400 per class) and 1,000 test images",
        "(100 per class) of Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017,",
        "https://github.com/zalandoresearch/fashion-mnist), unmodified pixels and labels,",
        "selected deterministically by scripts/make_fashion_mnist_sample.py",
        f"(selection key {SEED!r}) from the original release files",
        "(as packaged by Debian's dataset-fashion-mnist), whose SHA-256 are:",
        "",
    ]
    lines += [f"  {digest}  {name}" for name, digest in sorted(originals.items())]
    lines += [
        "",
        "Fashion-MNIST is distributed under the MIT licence, reproduced below; it applies to the",
        "files in this directory.",
        "",
        "-" * 64,
        "",
    ]
    return "\n".join(lines) + MIT_TEXT


def make(source: Path, out: Path) -> dict[str, str]:
    """Write the sample into ``out``; return file name → SHA-256 of the four data files."""
    out.mkdir(parents=True, exist_ok=True)
    originals = {}
    for split in ("train", "test"):
        stem = PREFIX[split]
        images_path = source / f"{stem}-images-idx3-ubyte.gz"
        labels_path = source / f"{stem}-labels-idx1-ubyte.gz"
        images, labels = read_idx_pair(images_path, labels_path, num_classes=NUM_CLASSES)
        originals[images_path.name] = sha256(images_path)
        originals[labels_path.name] = sha256(labels_path)
        keep = pick(labels, split, PER_CLASS[split])
        write_idx(out / f"{stem}-images-idx3-ubyte.gz", images[keep, :, :, 0])
        write_idx(out / f"{stem}-labels-idx1-ubyte.gz", labels[keep])
        print(f"{split}: kept {len(keep)} of {len(labels)} examples")
    sums = {name: sha256(out / name) for name in DATA_FILES}
    (out / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sums.items()))
    (out / "LICENSE").write_text(license_text(originals))
    return sums


def check(source: Path, committed: Path) -> int:
    """Regenerate into a temporary directory and compare with ``committed``; return exit status."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        make(source, fresh)
        status = 0
        for name in [*DATA_FILES, "SHA256SUMS", "LICENSE"]:
            old, new = committed / name, fresh / name
            if not old.is_file():
                print(f"MISSING  {old}")
                status = 1
            elif old.read_bytes() == new.read_bytes():
                print(f"same     {name}")
            elif name.endswith(".gz") and gzip.decompress(old.read_bytes()) == gzip.decompress(
                new.read_bytes()
            ):
                # Same pixels and labels; only the compressor's output differs.
                print(f"same data, different gzip bytes (another zlib build?)  {name}")
            else:
                print(f"DIFFERS  {name}")
                status = 1
    print("OK: the committed sample matches its recipe" if status == 0 else "FAILED")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=DEFAULT_SOURCE,
        help=f"directory with the original Fashion-MNIST .gz files (default {DEFAULT_SOURCE})",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="sample directory")
    parser.add_argument(
        "--check", action="store_true", help="regenerate in a temp dir and compare with --out"
    )
    args = parser.parse_args(argv)
    if not args.source_dir.is_dir():
        print(
            f"{args.source_dir} does not exist: `apt-get install dataset-fashion-mnist` or pass "
            "--source-dir",
            file=sys.stderr,
        )
        return 2
    if args.check:
        return check(args.source_dir, args.out)
    sums = make(args.source_dir, args.out)
    for name, digest in sums.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Re-save a model folder as this checkout writes folders, keeping its derived files.

    python benchmarks/resave.py --model DIR

For benchmark folders written by an older checkout (``bench_pairs.py`` takes
minutes to hours to train one at 10M items): the folder is opened, saved again
through ``store.save_model_folder`` beside itself (aligned pairs, the books
table's Arrow copy), its derived subfolders (index, names, projections, tiles,
clusters; keyed by the vectors' checksum, which a re-save keeps) moved across,
and the new folder swapped in. ``model.keras`` is not carried: the re-saved
folder has the vectors, not the Keras model. Time and memory: one open and one
save of the folder.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bookembed.store import DERIVED, SaveInputs, load_model_folder, save_model_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    args = parser.parse_args()
    source = args.model.resolve()
    model = load_model_folder(source, trust=False)
    manifest = model.manifest
    fresh = source.with_name(source.name + ".resaved")
    save_model_folder(fresh, SaveInputs(
        graph=model, heldout=np.asarray(model.heldout), book_vectors=np.asarray(model.book_vectors),
        link_vectors=np.asarray(model.link_vectors) if model.has_link_vectors else None,
        config=manifest.get("config", {}), data=manifest.get("data", {}), metrics=manifest.get("metrics", {}),
        history=model.history,
        link_vectors_missing=(manifest.get("link_vectors") or {}).get("why", "")))
    for kind in DERIVED:
        if (source / kind).is_dir():
            shutil.move(str(source / kind), str(fresh / kind))
    aside = source.with_name(source.name + ".old")
    source.rename(aside)
    fresh.rename(source)
    shutil.rmtree(aside)
    print(f"{source}: re-saved")


if __name__ == "__main__":
    main()

"""Past one machine: a model folder's graph as PyTorch-BigGraph's input, and its checkpoints back as a folder.

PyTorch-BigGraph (PBG) trains this very model (two entity types, one
relation, cosine scores, negatives drawn per batch) over ``torch.distributed``
on many machines. The formats below follow its documentation ("I/O format"):

**Export** (``bookembed export --pbg DIR``), one folder:

- ``entity_count_{book,link}_{p}.txt``: the number of entities in partition ``p``;
- ``entity_names_{book,link}_{p}.json``: their names, a JSON list in local order
  (what PBG's own importers write beside the counts);
- ``edges/edges_{i}_{j}.h5``: the training pairs whose book is in partition ``i``
  and link in partition ``j``, as three int64 datasets ``lhs``, ``rhs``, ``rel``
  and the attribute ``format_version = 1``;
- ``heldout/edges_{i}_{j}.h5``: the pairs bookembed held out, for PBG's evaluation;
- ``config.py``: ``get_torchbiggraph_config()`` with the two entity types, the
  relation ``links_to`` (book -> link, no operator), the ``cos`` comparator, the
  model's dimension; paths relative to the folder (run PBG from inside it);
- ``books.parquet``: the books table, so an import gets the metadata back.

Entity ``i`` of a type goes to partition ``i % P`` at local index ``i // P``.

**Import** (``bookembed import --pbg CHECKPOINT_DIR``): the checkpoint folder
holds ``checkpoint_version.txt`` (the version ``N``), ``config.json`` and
``embeddings_{type}_{p}.vN.h5`` (a 2-D dataset ``embeddings``, one row per
entity of the partition). The names come from the entity folder (the config's
``entity_path``, or ``--entities``). The folder's books and pairs come from an
export of ours when the entity folder is one; otherwise the books are the names.

Costs, for n entities and P pairs: export O(n + P log P) time (pairs sorted by
bucket) and O(n + P) memory; import O(n dim + P).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bookembed.errors import BookembedError

BOOK, LINK = "book", "link"
RELATION = "links_to"
FORMAT_VERSION = 1
MAX_DIM = 4096


class PbgError(BookembedError):
    """A PyTorch-BigGraph folder that cannot be read or written; the message names the file."""


@dataclass
class PbgExport:
    out: Path
    partitions: int
    n_books: int
    n_links: int
    n_train: int
    n_heldout: int

    def lines(self) -> list[str]:
        return [f"wrote PyTorch-BigGraph input for {self.n_books:,} books and {self.n_links:,} links "
                f"({self.n_train:,} training pairs, {self.n_heldout:,} held out, {self.partitions} partition(s) "
                f"a type) to {self.out}",
                f"train it with: cd {self.out} && torchbiggraph_train config.py",
                f"then: bookembed import --pbg {self.out / 'checkpoints'} --out models/NAME"]


def _split(ids: np.ndarray, partitions: int) -> tuple[np.ndarray, np.ndarray]:
    return ids % partitions, ids // partitions


def _write_edges(folder: Path, books: np.ndarray, links: np.ndarray, partitions: int) -> None:
    import h5py

    folder.mkdir()
    bp, bl = _split(books.astype(np.int64), partitions)
    lp, ll = _split(links.astype(np.int64), partitions)
    bucket = bp * partitions + lp
    order = np.argsort(bucket, kind="stable")
    starts = np.searchsorted(bucket[order], np.arange(partitions * partitions + 1))
    for b in range(partitions * partitions):
        rows = order[starts[b]:starts[b + 1]]
        with h5py.File(folder / f"edges_{b // partitions}_{b % partitions}.h5", "w") as f:
            f.attrs["format_version"] = FORMAT_VERSION
            f.create_dataset("lhs", data=bl[rows])
            f.create_dataset("rhs", data=ll[rows])
            f.create_dataset("rel", data=np.zeros(len(rows), np.int64))


CONFIG = '''"""PyTorch-BigGraph configuration written by bookembed: books and the pages they link to.

Run from this folder: torchbiggraph_train config.py
"""


def get_torchbiggraph_config():
    return dict(
        entity_path=".",
        edge_paths=["edges"],
        checkpoint_path="checkpoints",
        entities={{"book": {{"num_partitions": {partitions}}}, "link": {{"num_partitions": {partitions}}}}},
        relations=[{{"name": "{relation}", "lhs": "book", "rhs": "link", "operator": "none"}}],
        dimension={dim},
        comparator="cos",
        loss_fn="logistic",
        num_epochs={epochs},
        lr=0.1,
        eval_fraction=0,
    )
'''


def export_pbg(model, out: str | Path, *, partitions: int = 1, epochs: int | None = None) -> PbgExport:
    """Write a model folder's books, links and pairs as PyTorch-BigGraph's input folder, atomically.

    Parameters
    ----------
    model : ModelFolder
    out : path
        The folder to write (replaced whole if it exists).
    partitions : int
        Partitions of each entity type (1 for one machine; PBG's distributed
        training wants at least twice the number of machines).
    epochs : int, optional
        ``num_epochs`` in the config; the model's own epochs by default.
    """
    from bookembed.atomic import make_temp_dir, replace_dir_atomic

    if partitions < 1:
        raise PbgError(f"--partitions must be at least 1, got {partitions}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PbgError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = model.manifest.get("config", {}) if isinstance(model.manifest, dict) else {}
    epochs = int(epochs if epochs is not None else config.get("epochs") or 30)
    tmp = make_temp_dir(out)
    try:
        for kind, names in ((BOOK, list(model.titles)), (LINK, list(model.links))):
            for p in range(partitions):
                part = names[p::partitions]
                (tmp / f"entity_count_{kind}_{p}.txt").write_text(f"{len(part)}\n", encoding="utf-8")
                (tmp / f"entity_names_{kind}_{p}.json").write_text(json.dumps(part, ensure_ascii=False),
                                                                   encoding="utf-8")
        held = np.asarray(model.heldout, dtype=bool)
        books, links = np.asarray(model.pair_books), np.asarray(model.pair_links)
        if len(held) != len(books):
            held = np.zeros(len(books), dtype=bool)
        _write_edges(tmp / "edges", books[~held], links[~held], partitions)
        _write_edges(tmp / "heldout", books[held], links[held], partitions)
        (tmp / "config.py").write_text(CONFIG.format(partitions=partitions, relation=RELATION, dim=int(model.dim),
                                                     epochs=epochs), encoding="utf-8")
        model.books.to_parquet(tmp / "books.parquet", index=False)
        replace_dir_atomic(tmp, out)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PbgExport(out, partitions, model.n_books, model.n_links, int((~held).sum()), int(held.sum()))


# ---------------------------------------------------------------------------------------------- import


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PbgError(f"{path}: missing ({what})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PbgError(f"{path}: not readable JSON ({what}): {err}") from None


def _version(checkpoint: Path) -> int:
    path = checkpoint / "checkpoint_version.txt"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise PbgError(f"{path}: missing; {checkpoint} is not a PyTorch-BigGraph checkpoint folder") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PbgError(f"{path}: not readable: {err}") from None
    if not text.isdigit() or int(text) < 1:
        raise PbgError(f"{path}: should hold the checkpoint version, a positive whole number; got {text[:40]!r}")
    return int(text)


def _partitions(checkpoint: Path, config: dict, kind: str, version: int) -> int:
    entities = config.get("entities") if isinstance(config, dict) else None
    if isinstance(entities, dict):
        if kind not in entities:
            raise PbgError(f"{checkpoint / 'config.json'}: no entity type {kind!r} (has {', '.join(map(str, entities))}); "
                           "bookembed reads the types 'book' and 'link'")
        n = entities[kind].get("num_partitions", 1) if isinstance(entities[kind], dict) else 1
        if not isinstance(n, int) or n < 1:
            raise PbgError(f"{checkpoint / 'config.json'}: entities.{kind}.num_partitions should be a positive whole "
                           f"number; got {n!r}")
        return n
    n = 0
    while (checkpoint / f"embeddings_{kind}_{n}.v{version}.h5").exists():
        n += 1
    if n == 0:
        raise PbgError(f"{checkpoint / f'embeddings_{kind}_0.v{version}.h5'}: missing (no {kind} embeddings)")
    return n


def _names(entities: Path, kind: str, p: int) -> list[str]:
    path = entities / f"entity_names_{kind}_{p}.json"
    names = _read_json(path, f"the names of the {kind} entities of partition {p}")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PbgError(f"{path}: should be a JSON list of names (strings)")
    return names


def _embeddings(checkpoint: Path, kind: str, p: int, version: int, rows: int) -> np.ndarray:
    import h5py

    path = checkpoint / f"embeddings_{kind}_{p}.v{version}.h5"
    if not path.exists():
        raise PbgError(f"{path}: missing")
    try:
        with h5py.File(path, "r") as f:
            data = f.get("embeddings")
            if not isinstance(data, h5py.Dataset) or data.ndim != 2:
                raise PbgError(f"{path}: no 2-D dataset 'embeddings'")
            n, dim = data.shape
            if n != rows:
                raise PbgError(f"{path}: {n:,} embeddings for {rows:,} names in entity_names_{kind}_{p}.json")
            if not 1 <= dim <= MAX_DIM:
                raise PbgError(f"{path}: dimension {dim} (expected 1 to {MAX_DIM})")
            if data.dtype.kind != "f":
                raise PbgError(f"{path}: embeddings of type {data.dtype}, not floating point")
            values = np.asarray(data[...], dtype=np.float32)
    except OSError as err:
        raise PbgError(f"{path}: not a readable HDF5 file: {err}") from None
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise PbgError(f"{path}: row {int(bad[0])} ({kind} entity) is not a finite vector")
    return values


def _read_type(checkpoint: Path, entities: Path, config: dict, kind: str, version: int):
    names, vectors = [], []
    for p in range(_partitions(checkpoint, config, kind, version)):
        part = _names(entities, kind, p)
        names.append(part)
        vectors.append(_embeddings(checkpoint, kind, p, version, len(part)))
    dims = {v.shape[1] for v in vectors}
    if len(dims) > 1:
        raise PbgError(f"{checkpoint}: the {kind} partitions have different dimensions {sorted(dims)}")
    flat = [n for part in names for n in part]
    seen: dict[str, int] = {}
    for i, n in enumerate(flat):
        if n in seen:
            raise PbgError(f"{entities}: the {kind} name {n[:80]!r} appears twice; names must be unique")
        seen[n] = i
    return names, flat, np.concatenate(vectors) if vectors else np.zeros((0, 1), np.float32)


def _read_edges(folder: Path, book_names, link_names, book_at: dict, link_at: dict):
    """Global (book, link) ids of every edge in an edges folder written as PBG's buckets."""
    import h5py

    # per partition, local index -> global id (one dictionary lookup per entity, none per edge)
    book_ids = [np.array([book_at[n] for n in part], np.int64) for part in book_names]
    link_ids = [np.array([link_at[n] for n in part], np.int64) for part in link_names]
    books, links = [], []
    for path in sorted(folder.glob("edges_*_*.h5")):
        i, j = (int(x) for x in path.stem.split("_")[1:3])
        try:
            with h5py.File(path, "r") as f:
                lhs, rhs = np.asarray(f["lhs"][...], np.int64), np.asarray(f["rhs"][...], np.int64)
        except (OSError, KeyError) as err:
            raise PbgError(f"{path}: not PyTorch-BigGraph edges (datasets lhs, rhs): {err}") from None
        if i >= len(book_names) or j >= len(link_names) or (len(lhs) and (lhs.max() >= len(book_names[i])
                                                                           or rhs.max() >= len(link_names[j]))):
            raise PbgError(f"{path}: an edge names an entity its partition does not have")
        if len(lhs) != len(rhs) or (len(lhs) and min(lhs.min(), rhs.min()) < 0):
            raise PbgError(f"{path}: lhs and rhs should be equally long lists of entity indices")
        books.append(book_ids[i][lhs])
        links.append(link_ids[j][rhs])
    if not books:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(books), np.concatenate(links)


def _interleaved(parts: list[list[str]]) -> np.ndarray:
    """Rows of the partition-order concatenation, put back in ``export_pbg``'s global order (``i % P``, ``i // P``)."""
    n_parts = len(parts)
    where = np.concatenate([np.arange(len(part), dtype=np.int64) * n_parts + p for p, part in enumerate(parts)]
                           ) if parts else np.zeros(0, np.int64)
    return np.argsort(where, kind="stable")


def import_pbg(checkpoint: str | Path, out: str | Path, *, entities: str | Path | None = None,
               overwrite: bool = False):
    """A model folder from a PyTorch-BigGraph checkpoint with the entity types ``book`` and ``link``.

    Parameters
    ----------
    checkpoint : path
        The checkpoint folder (``checkpoint_version.txt``, ``embeddings_*.vN.h5``).
    out : path
        The model folder to write.
    entities : path, optional
        Where ``entity_names_*.json`` are; by default the config's
        ``entity_path`` (relative paths are tried from the checkpoint folder's
        parent, then from the checkpoint folder), else the parent.

    Returns
    -------
    importer.ImportResult
    """
    from bookembed.corpus import file_checksum
    from bookembed.graph import LinkGraph
    from bookembed.importer import ImportResult, _check_out, _metrics
    from bookembed.store import SaveInputs, save_model_folder

    checkpoint, out = Path(checkpoint), Path(out)
    if not checkpoint.is_dir():
        raise PbgError(f"{checkpoint}: not a folder (the PyTorch-BigGraph checkpoint folder)")
    _check_out(out, overwrite)
    version = _version(checkpoint)
    config_path = checkpoint / "config.json"
    config = _read_json(config_path, "the training's config") if config_path.exists() else {}
    if not isinstance(config, dict):
        raise PbgError(f"{config_path}: should be a JSON object")
    if entities is None:
        given = Path(str(config.get("entity_path") or "."))
        tries = [given] if given.is_absolute() else [checkpoint.parent / given, checkpoint / given]
        entities = next((t for t in tries if (t / f"entity_names_{BOOK}_0.json").exists()), checkpoint.parent)
    entities = Path(entities)
    book_parts, titles, book_vectors = _read_type(checkpoint, entities, config, BOOK, version)
    link_parts, links, link_vectors = _read_type(checkpoint, entities, config, LINK, version)
    if book_vectors.shape[1] != link_vectors.shape[1] and len(links):
        raise PbgError(f"{checkpoint}: books have dimension {book_vectors.shape[1]}, links {link_vectors.shape[1]}")
    notes = []
    relations = config.get("relations") or []
    ops = {r.get("operator", "none") for r in relations if isinstance(r, dict)}
    if ops - {"none", None}:
        notes.append(f"the relation operator ({', '.join(sorted(map(str, ops)))}) is not applied: links are compared "
                     "with books as stored")
    if config.get("comparator", "cos") != "cos":
        notes.append(f"trained with the {config.get('comparator')!r} comparator; bookembed compares by cosine")

    # Ours (books.parquet beside the names): the original order (entity i was put at partition i % P, local
    # index i // P) and the metadata back; otherwise the names in partition order.
    table_path = entities / "books.parquet"
    books = pd.read_parquet(table_path) if table_path.exists() else None
    if books is not None:
        rows = _interleaved(book_parts)
        links_rows = _interleaved(link_parts)
        if "title" in books.columns and [titles[i] for i in rows] == list(books["title"]):
            titles, book_vectors = list(books["title"]), book_vectors[rows]
            links, link_vectors = [links[i] for i in links_rows], link_vectors[links_rows]
        else:
            notes.append(f"{table_path}: holds other books than the checkpoint; metadata left out")
            books = None
    if books is None:
        books = pd.DataFrame({"title": titles})
    book_at = {t: i for i, t in enumerate(titles)}
    link_at = {n: i for i, n in enumerate(links)}
    train_b, train_l = _read_edges(entities / "edges", book_parts, link_parts, book_at, link_at)
    held_b, held_l = _read_edges(entities / "heldout", book_parts, link_parts, book_at, link_at)
    pair_books, pair_links = np.concatenate([train_b, held_b]), np.concatenate([train_l, held_l])
    order = np.lexsort((pair_links, pair_books))
    heldout = np.concatenate([np.zeros(len(train_b), bool), np.ones(len(held_b), bool)])[order]
    pair_books, pair_links = pair_books[order].astype(np.int32), pair_links[order].astype(np.int32)
    counts = np.bincount(pair_links, minlength=len(links)).astype(np.int64)
    books = books.copy()
    books["n_links"] = np.bincount(pair_books, minlength=len(titles)).astype(np.int64)
    if not len(pair_books):
        notes.append(f"no edges under {entities}: the folder has no pairs (held-out scores unavailable)")
    sources = sorted(checkpoint.glob(f"embeddings_*.v{version}.h5"))
    path = save_model_folder(out, SaveInputs(
        graph=LinkGraph(books=books, links=tuple(links), link_counts=counts, pair_books=pair_books,
                        pair_links=pair_links),
        heldout=heldout, book_vectors=book_vectors, link_vectors=link_vectors,
        config={"dim": int(book_vectors.shape[1]), "imported": "pytorch-biggraph", "seed": None,
                "checkpoint_version": version,
                **{k: config[k] for k in ("comparator", "loss_fn", "num_epochs", "lr") if k in config}},
        data={"source": str(checkpoint), "entities": str(entities), "checksum": file_checksum(*sources)},
        metrics=_metrics(book_vectors, books), history={},
    ))
    return ImportResult(path, len(titles), len(links), int(book_vectors.shape[1]), True, notes)


__all__ = ["PbgError", "PbgExport", "export_pbg", "import_pbg"]

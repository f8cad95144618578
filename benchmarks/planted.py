"""A planted-genre corpus of any size, as Wikipedia-books NDJSON records (seeded).

    python benchmarks/planted.py --books 1000000 --out /tmp/planted-1m.ndjson

Each book belongs to one of ``genres`` planted genres. Its wikilinks are
drawn mostly from its genre's own pool of pages (Zipf-popular within the
genre), plus a few popular pages every genre links to (noise), plus a rare
page or two that the cleaning drops (linked by fewer than 4 books). The
infobox carries the genre, an author (authors write within one genre), a
country, a publication date and a page count, written the way Wikipedia
infoboxes write them. About 15 links per book survive cleaning.

The records are what ``bookembed train`` reads, so a benchmark measures the
whole command on them: parsing, cleaning, training, evaluation, saving.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

COUNTRIES = ("United Kingdom", "United States", "France", "Russia", "Germany", "Japan", "India", "Brazil")


def write_planted(path: str | Path, n_books: int, *, genres: int = 50, links_per_book: int = 18,
                  pool: int | None = None, noise: float = 0.2, seed: int = 0, chunk: int = 50_000) -> Path:
    """Write ``n_books`` planted-genre records to ``path``; returns the path.

    Parameters
    ----------
    n_books : int
    genres : int
        Planted genres (the purity evaluation's labels).
    links_per_book : int
        Wikilinks per record before cleaning.
    pool : int, optional
        Pages per genre; default grows with the corpus (about 0.4 link per book overall).
    noise : float
        Share of a book's links drawn from 300 popular pages shared by every genre.
    """
    import orjson

    rng = np.random.default_rng(seed)
    pool = pool or max(200, int(0.4 * n_books / genres))
    zipf = 1.0 / (np.arange(pool) + 5.0)
    cdf = np.cumsum(zipf / zipf.sum())
    popular = 300
    path = Path(path)
    with open(path, "wb") as fh:
        for start in range(0, n_books, chunk):
            n = min(chunk, n_books - start)
            genre = rng.integers(0, genres, n)
            n_noise = rng.binomial(links_per_book, noise, n)
            lines = []
            for i in range(n):
                g, book = int(genre[i]), start + i
                own = np.searchsorted(cdf, rng.random(links_per_book - n_noise[i]))
                links = [f"Genre {g} topic {j}" for j in own]
                links += [f"Popular page {j}" for j in rng.integers(0, popular, n_noise[i])]
                links.append(f"Rare page {book}")
                infobox = {
                    "name": f"Book {book}",
                    "author": f"[[Author {g}-{int(rng.integers(0, max(2, pool // 8)))}]]",
                    "genre": f"[[Genre {g} fiction|Genre {g}]] novel",
                    "country": COUNTRIES[(g + book % 3) % len(COUNTRIES)],
                    "pub_date": f"{1800 + int(rng.integers(0, 220))}",
                    "pages": f"{int(rng.integers(90, 900))}",
                }
                lines.append(orjson.dumps([f"Book {book} (genre {g})", infobox, links,
                                           [f"http://example.org/{book}"], "2018-09-01T00:00:00Z", 4000 + book % 997]))
            fh.write(b"\n".join(lines) + b"\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    path = write_planted(args.out, args.books, seed=args.seed)
    print(f"wrote {path} ({path.stat().st_size / 1e6:,.0f} MB)")


if __name__ == "__main__":
    main()

"""``bookembed neighbors``: nearest books or links, their shared links, and the name each query was taken as.

Titles are resolved as the app's picker does (``names.resolve_title``): a
clear match answers, and a line on stderr says which book a query was taken
as when it is not the exact title (stdout stays the results, so ``--json``
still parses); several plausible books end the command with one line listing
them, best first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from bookembed.errors import BookembedError

BOOK_COLUMNS = ["rank", "title", "similarity", "author", "genre", "year", "shared_links"]


def add_parser(sub, default_model: str, count) -> None:
    """The ``neighbors`` sub-command on ``sub`` (``count``: the argparse type of -k)."""
    from bookembed.neighbors import COMBINES

    p = sub.add_parser("neighbors", help="nearest books or links")
    p.add_argument("query", nargs="+",
                   help="book title(s), found as the app finds them (case, accents, a '(novel)' suffix and small "
                        "typos do not matter); a link with --link-books/--link-links")
    p.add_argument("--model", default=default_model)
    p.add_argument("-k", type=count, default=10, help="how many results")
    p.add_argument("--links", action="store_true", help="links nearest to the book")
    p.add_argument("--link-books", action="store_true", help="the query is a link: books nearest to it")
    p.add_argument("--link-links", action="store_true", help="the query is a link: links nearest to it")
    p.add_argument("--least", action="store_true", help="least similar instead")
    p.add_argument("--genre", help="only books of this primary genre")
    p.add_argument("--combine", choices=list(COMBINES), default="mean",
                   help="several books: " + "; ".join(f"{name}: {text}" for name, text in COMBINES.items()))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_neighbors)


def _value(v):
    if hasattr(v, "item"):
        v = v.item()
    if v is not None and isinstance(v, float) and math.isnan(v):
        return None
    return v


def _rows(frame, columns) -> list[dict]:
    out = []
    for row in frame.to_dict("records"):
        item = {}
        for c in columns:
            if c not in row:
                continue
            v = row[c]
            item[c] = list(v) if c == "shared_links" else _value(v)
        out.append(item)
    return out


def _book_rows(model, frame, n_query: int) -> list[dict]:
    """Rows of ``similar_books``: shared links split into the informative (ranked) and the common ones."""
    from bookembed.neighbors import split_common

    rows = _rows(frame, BOOK_COLUMNS)
    for row, record in zip(rows, frame.to_dict("records")):
        if n_query > 1:
            row["similarity_to"] = [float(record[f"similarity_{j + 1}"]) for j in range(n_query)]
        row["shared_links"], row["common_links"] = split_common(model, row["shared_links"])
    return rows


def _resolve_books(model, query: list[str]) -> list[str]:
    """The exact titles the query names; a line on stderr for each that was not given exactly."""
    from bookembed.names import resolve_title

    titles = []
    for text in query:
        title = model.titles_of([resolve_title(model, text)])[0]
        if title != text:
            print(f"bookembed: {text!r} taken as {title!r}", file=sys.stderr)
        titles.append(title)
    return titles


def cmd_neighbors(args: argparse.Namespace) -> int:
    from bookembed import neighbors as nb
    from bookembed.store import load_model_folder

    model = load_model_folder(args.model)
    query = args.query
    if len(query) > 1 and (args.links or args.link_books or args.link_links):
        raise BookembedError("several queries are combined only for books like books; give one name with this mode")
    header = {"query": query}
    if args.link_links:
        frame, kind = nb.similar_links(model, query[0], args.k, least=args.least), "links like a link"
        rows = _rows(frame, ["rank", "link", "similarity", "books", "shared_books"])
    elif args.link_books:
        frame, kind = nb.books_for_link(model, query[0], args.k, least=args.least), "books for a link"
        rows = _rows(frame, ["rank", "title", "similarity", "author", "genre", "year", "links_to_it"])
    elif args.links:
        titles = _resolve_books(model, query)
        header["books"] = titles
        frame, kind = nb.links_for_book(model, titles[0], args.k, least=args.least), "links for a book"
        rows = _rows(frame, ["rank", "link", "similarity", "books", "linked"])
    else:
        titles = list(dict.fromkeys(_resolve_books(model, query)))
        header["books"] = titles
        frame = nb.similar_books(model, titles, args.k, least=args.least, genre=args.genre, combine=args.combine)
        kind = "books like " + ("these books" if len(titles) > 1 else "a book")
        rows = _book_rows(model, frame, len(titles))
        if len(titles) > 1:
            header["combine"] = args.combine
    if args.json:
        json.dump({**header, "kind": kind, "least": args.least, "results": rows}, sys.stdout, ensure_ascii=False,
                  indent=1)
        print()
        return 0
    _print_text(header, kind, args.least, rows)
    return 0


def _print_text(header: dict, kind: str, least: bool, rows: list[dict]) -> None:
    from bookembed.neighbors import describe_shared

    names = header.get("books", header["query"])
    combine = f" (combined by {header['combine']})" if "combine" in header else ""
    print(f"{'least' if least else 'most'} similar — {kind}: {' + '.join(names)}{combine}")
    if "combine" in header:
        print("     " + "  ".join(f"[{j + 1}] {name}" for j, name in enumerate(names)))
    for row in rows:
        name = row.get("title", row.get("link"))
        extra = []
        if row.get("author"):
            extra.append(str(row["author"]))
        if row.get("year") is not None and "year" in row:
            extra.append(str(row["year"]))
        if "similarity_to" in row:
            extra.append("to each: " + " ".join(f"[{j + 1}] {s:+.3f}" for j, s in enumerate(row["similarity_to"])))
        if "shared_links" in row:
            extra.append("shares: " + describe_shared(row["shared_links"], row.get("common_links", [])))
        for flag in ("links_to_it", "linked"):
            if flag in row:
                extra.append("links to it" if row[flag] else "no direct link")
        if "books" in row:
            extra.append(f"{row['books']} books")
        score = f"{row['similarity']:.4f}" if header.get("combine") == "rrf" else f"{row['similarity']:+.3f}"
        print(f"{row['rank']:>3}. {score}  {name}" + (f"  ({'; '.join(extra)})" if extra else ""))

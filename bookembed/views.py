"""Saved map views ("bookmarks"): which projection, what was selected and searched, the colouring.

They live in the model folder's ``views`` document (``ModelFolder.document``,
``views.json``), read tolerantly and written atomically; the Map page saves
and opens them, and the Projector exporter turns them into bookmarks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bookembed.errors import BookembedError


@dataclass(frozen=True)
class View:
    """A saved map view ("bookmark"): which projection, what was selected and searched, the colouring.

    Stored in the model folder's ``views`` document as ``{"views": [View.to_json(), ...]}``.
    """

    name: str
    projection: str | None = None
    selected: tuple[int, ...] = ()
    query: tuple[str, ...] = ()
    color_by: str | None = None
    created: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "projection": self.projection, "selected": list(self.selected),
                "query": list(self.query), "color_by": self.color_by, "created": self.created}

    @classmethod
    def from_json(cls, value, n_books: int) -> tuple["View | None", str | None]:
        """A view from its JSON entry, or (None, why) when the entry is not a view.

        Selected ids outside ``range(n_books)`` are dropped (and said).
        """
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return None, "not a view with a name"
        raw = value.get("selected") if isinstance(value.get("selected"), list) else []
        ids = [s for s in raw if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < n_books]
        note = f"view {value['name']!r}: dropped {len(raw) - len(ids)} selected ids that are not books" \
            if len(ids) != len(raw) else None
        query = value.get("query") if isinstance(value.get("query"), list) else []
        view = cls(
            name=value["name"],
            projection=value["projection"] if isinstance(value.get("projection"), str) else None,
            selected=tuple(dict.fromkeys(ids)),
            query=tuple(str(q) for q in query),
            color_by=value["color_by"] if isinstance(value.get("color_by"), str) else None,
            created=str(value.get("created", "")),
        )
        return view, note


def load_views(model, notes: list[str] | None = None) -> list[View]:
    """The saved map views of a model, oldest first; [] when there are none or the file is damaged.

    Parameters
    ----------
    model : ModelFolder
    notes : list of str, optional
        Gets one line for each entry (or file) that was skipped, and why.
    """
    doc = model.document("views")
    if not doc.exists:
        return []
    data = doc.read()
    raw = data.get("views") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        if notes is not None:
            notes.append(f"note: ignored {doc.path}: not a views file")
        return []
    views = []
    for i, entry in enumerate(raw):
        view, note = View.from_json(entry, model.n_books)
        if note and notes is not None:
            notes.append(f"note: {doc.path.name}: " + (f"skipped entry {i}: {note}" if view is None else note))
        if view is not None:
            views.append(view)
    return views


def save_view(model, name: str, *, projection: str, selected=(), query=(), color_by: str = "genre") -> View:
    """Add a named view to the saved views (replacing one of the same name) and return it.

    Raises ``WriteError`` (one line) when the model folder cannot be written.

    Parameters
    ----------
    model : ModelFolder
    name : str
        Shown in the app and as the Projector bookmark's description.
    projection : str
        A projection key (``projection.projection_key``).
    selected : sequence of int
        Selected book ids.
    query : sequence of str
        The searched titles.
    color_by : str
        What the points were coloured by.
    """
    name = name.strip()
    if not name:
        raise BookembedError("a saved view needs a name")
    view = View(name=name, projection=projection, selected=tuple(int(i) for i in selected),
                query=tuple(str(q) for q in query), color_by=color_by,
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    views = [v for v in load_views(model) if v.name != name] + [view]
    model.document("views").write({"views": [v.to_json() for v in views]})
    return view


def delete_view(model, name: str) -> None:
    """Remove the view called ``name`` (nothing happens when there is none)."""
    views = load_views(model)
    kept = [v for v in views if v.name != name]
    if len(kept) != len(views):
        model.document("views").write({"views": [v.to_json() for v in kept]})


def views_stamp(model) -> int | None:
    """Changes whenever the saved views are rewritten (None when there are none): a cache key for exports."""
    return model.document("views").stamp

"""One registry type for every extension point keyed by name: training kinds, eval task kinds, and judges later.

A hand-written `dict` lets a second registration under a name silently replace the first, so a plug-in that
picks a taken name would change what haha runs without a word. A `Registry` refuses that, naming both
registrants, and a lookup of a name it lacks says which names it has and the nearest one, since a typo is the
usual reason.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from typing import Generic, TypeVar

from pipeline.core.errors import HahaError

T = TypeVar("T")

# difflib's own default: close enough that `dpp` finds `dpo` and `sweeep` finds `sweep`, not so loose that any
# short name matches any other.
SUGGESTION_CUTOFF = 0.6


class RegistryClashError(HahaError):
    """Two registrants chose one name; which one haha would run is not for import order to decide."""


class UnknownNameError(HahaError, KeyError):
    """A name nothing registered. A KeyError too, so `Mapping.get` and `in` treat it as the absent key it is."""

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError's own str quotes the message as a repr


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name a typo most likely meant, or None when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=SUGGESTION_CUTOFF)
    return close[0] if close else None


class Registry(Mapping[str, T], Generic[T]):
    """Items by name, in the order they were registered (the order a first-match search tries them in)."""

    def __init__(self, what: str) -> None:
        self.what = what  # what one name is, for messages: "training kind", "kind"
        self._items: dict[str, T] = {}
        self._registrants: dict[str, str] = {}

    def register(self, name: str, item: T, registrant: str) -> T:
        """Add `item` under `name`; `registrant` says who asked (a module or class), for a clash's message."""
        if name in self._items:
            raise RegistryClashError(f"{self.what} {name!r} is registered twice: by {self._registrants[name]} and by "
                                     f"{registrant}; rename one of them")
        self._items[name] = item
        self._registrants[name] = registrant
        return item

    def remove(self, name: str) -> None:
        """Take a registration back, for a plug-in that lives only as long as its caller (a test's, say)."""
        if name not in self._items:
            raise UnknownNameError(self.unknown(name))
        del self._items[name], self._registrants[name]

    def unknown(self, name: str) -> str:
        """What a lookup of `name` says when nothing has it: the known names, and the nearest to a typo."""
        hint = f"; did you mean {suggestion!r}?" if (suggestion := nearest(name, self._items)) else ""
        return f"unknown {self.what} {name!r}; known {self.what}s: {', '.join(sorted(self._items))}{hint}"

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.unknown(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items  # Mapping's own would build the unknown-name message for every miss

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

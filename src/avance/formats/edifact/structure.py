"""The segment-group structure of the D.99B messages: which segments, in which order, how often,
which are mandatory; checked on every message read or written, and the tree of segment groups the
readers walk.

The structures are the machine-readable trees shipped in ``d99b/`` (see its SOURCE.md). A group
is recognised by its first (trigger) segment, as the syntax rules define; segments are matched in
order, greedily, which is unambiguous for the UN/EDIFACT directories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from avance.formats.edifact.syntax import Message, Seg
from avance.kit.errors import Issue


@dataclass(frozen=True, slots=True)
class Node:
    """A segment (``group`` 0) or a segment group of the message definition."""

    tag: str  # the segment, or the group's trigger segment
    mandatory: bool
    repetition: int
    group: int = 0
    children: tuple[Node, ...] = ()  # a group's segments and groups after its trigger


@dataclass(slots=True)
class Group:
    """One occurrence of a segment group in a message: its trigger segment and what follows."""

    number: int
    trigger: Seg
    items: list[Seg | Group] = field(default_factory=list)

    def segments(self, tag: str) -> list[Seg]:
        """This group's own segments with ``tag`` (its trigger included)."""
        own = [self.trigger] if self.trigger.tag == tag else []
        return own + [s for s in self.items if isinstance(s, Seg) and s.tag == tag]

    def first(self, tag: str) -> Seg | None:
        found = self.segments(tag)
        return found[0] if found else None

    def groups(self, number: int) -> list[Group]:
        return [g for g in self.items if isinstance(g, Group) and g.number == number]


def _node(raw: dict[str, Any]) -> Node:
    content = raw["content"]
    if isinstance(content, str):
        return Node(content, bool(raw["mandatory"]), int(raw["repetition"]))
    first, *rest = content
    number = int(str(raw["name"]).rsplit(" ", 1)[-1])
    return Node(first["content"], bool(raw["mandatory"]), int(raw["repetition"]), number, tuple(_node(r) for r in rest))


@lru_cache(maxsize=None)
def definition(message_type: str) -> tuple[Node, ...]:
    """The D.99B structure of ``message_type`` (CUSDEC, CUSCAR or CUSRES), UNH to UNT."""
    source = resources.files(__package__).joinpath("d99b", f"D99B_{message_type}.struct.json")
    return tuple(_node(raw) for raw in json.loads(source.read_text(encoding="utf-8")))


class _Matcher:
    def __init__(self, message: Message) -> None:
        self.message = message
        self.segments = message.segments
        self.issues: list[Issue] = []

    def at(self, index: int) -> str:
        if index < len(self.segments):
            return self.message.at(self.segments[index])
        return self.message.where

    def sequence(self, nodes: tuple[Node, ...], index: int, into: list[Seg | Group], inside: Group | None) -> int:
        for node in nodes:
            count = 0
            while index < len(self.segments) and self.segments[index].tag == node.tag:
                if count == node.repetition:
                    seg = self.segments[index]
                    what = f"{node.tag} (segment group {node.group})" if node.group else node.tag
                    self.issues.append(
                        Issue(self.at(index), "format.edifact.structure_repeated", {"what": what, "max": node.repetition, "position": seg.position})
                    )
                if node.group:
                    group = Group(node.group, self.segments[index])
                    into.append(group)
                    index = self.sequence(node.children, index + 1, group.items, group)
                else:
                    into.append(self.segments[index])
                    index += 1
                count += 1
            if count == 0 and node.mandatory:
                self.missing(node, index, inside)
        return index

    def missing(self, node: Node, index: int, inside: Group | None) -> None:
        tag = f"{node.tag} (segment group {node.group})" if node.group else node.tag
        pointer = f"{self.message.where}/{node.tag}"
        if inside is not None:
            self.issues.append(
                Issue(
                    pointer,
                    "format.edifact.structure_missing_in_group",
                    {"tag": tag, "group": inside.number, "trigger": inside.trigger.tag, "position": inside.trigger.position},
                )
            )
        else:
            found = self.segments[index] if index < len(self.segments) else None
            self.issues.append(
                Issue(
                    pointer,
                    "format.edifact.structure_missing",
                    {"tag": tag, "found": found.tag if found else "-", "position": found.position if found else len(self.segments)},
                )
            )


def check(message: Message, message_type: str | None = None) -> tuple[list[Seg | Group], list[Issue]]:
    """The message as a tree of segments and segment groups, and what breaks the D.99B structure
    of its type: a mandatory segment or group missing, one repeated too often, a segment out of
    place (reported once, where the structure can no longer follow the message)."""
    matcher = _Matcher(message)
    tree: list[Seg | Group] = []
    index = matcher.sequence(definition(message_type or message.type), 0, tree, None)
    if index < len(message.segments):
        seg = message.segments[index]
        previous = message.segments[index - 1] if index else None
        # What the structure expected where it stopped is not missing: that segment is out of place.
        matcher.issues = [i for i in matcher.issues if not (i.code == "format.edifact.structure_missing" and i.params["position"] == seg.position)]
        matcher.issues.append(
            Issue(
                message.at(seg),
                "format.edifact.structure_unexpected",
                {"tag": seg.tag, "type": message_type or message.type, "previous": previous.tag if previous else "-", "position": seg.position},
            )
        )
    return tree, matcher.issues


def top(tree: list[Seg | Group], tag: str) -> list[Seg]:
    return [s for s in tree if isinstance(s, Seg) and s.tag == tag]


def groups(tree: list[Seg | Group], number: int) -> list[Group]:
    return [g for g in tree if isinstance(g, Group) and g.number == number]

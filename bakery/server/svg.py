"""The lineage graph as SVG, drawn on the server: one row per distance (bases above, what was
built on the artifact below), an arrow from each base to its child. Pure: views in, text out;
every label is XML-escaped."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from bakery.registry.views import EdgeView, LineageNode

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 230, 64, 24, 56, 16
MAX_PER_ROW = 12


def _short(digest: str) -> str:
    return digest[:19] + "…"


def _label(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def lineage_svg(
    nodes: list[LineageNode],
    edges: list[EdgeView],
    *,
    focus: str,
    href: Callable[[str], str],
) -> str:
    """An ``<svg>`` element of the lineage around ``focus``; nodes link to ``href(digest)``."""
    rows: dict[int, list[LineageNode]] = {}
    for node in nodes:
        rows.setdefault(node.distance, []).append(node)
    distances = sorted(rows)
    widest = max((min(len(r), MAX_PER_ROW + 1) for r in rows.values()), default=1)
    width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X
    height = PAD * 2 + len(distances) * NODE_H + max(len(distances) - 1, 0) * GAP_Y
    where: dict[str, tuple[int, int]] = {}
    boxes: list[str] = []
    for row_index, distance in enumerate(distances):
        row = sorted(rows[distance], key=lambda n: (n.name or "", n.digest))
        shown, hidden = row[:MAX_PER_ROW], len(row) - MAX_PER_ROW
        count = len(shown) + (1 if hidden > 0 else 0)
        offset = (width - (count * NODE_W + (count - 1) * GAP_X)) // 2
        y = PAD + row_index * (NODE_H + GAP_Y)
        for i, node in enumerate(shown):
            x = offset + i * (NODE_W + GAP_X)
            where[node.digest] = (x, y)
            boxes.append(_node(node, x, y, node.digest == focus, href(node.digest)))
        if hidden > 0:
            x = offset + len(shown) * (NODE_W + GAP_X)
            boxes.append(
                f'<g class="more"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" '
                f'rx="8"/><text x="{x + 12}" y="{y + 36}">+{hidden} more</text></g>'
            )
    lines = []
    for edge in edges:
        if edge.parent in where and edge.child in where:
            px, py = where[edge.parent]
            cx, cy = where[edge.child]
            lines.append(
                f'<line class="edge {escape(edge.relation)}" x1="{px + NODE_W // 2}" '
                f'y1="{py + NODE_H}" x2="{cx + NODE_W // 2}" y2="{cy - 4}" '
                'marker-end="url(#arrow)"/>'
            )
    ancestors = sum(1 for n in nodes if n.distance < 0)
    descendants = sum(1 for n in nodes if n.distance > 0)
    title = f"Lineage: {ancestors} bases above, {descendants} images built on it below"
    return (
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-labelledby="lineage-title" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title id="lineage-title">{escape(title)}</title>'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/>'
        "</marker></defs>" + "".join(lines) + "".join(boxes) + "</svg>"
    )


def _node(node: LineageNode, x: int, y: int, focus: bool, link: str) -> str:
    classes = "node" + (" focus" if focus else "") + (" revoked" if node.revoked else "")
    name = _label(node.name or "(unnamed)")
    channels = _label(", ".join(node.channels), 34) if node.channels else ""
    state = " (revoked)" if node.revoked else ""
    return (
        f'<a href="{escape(link)}"><g class="{classes}">'
        f"<title>{escape((node.name or '') + ' ' + node.digest + state)}</title>"
        f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
        f'<text class="name" x="{x + 12}" y="{y + 20}">{escape(name)}{escape(state)}</text>'
        f'<text class="digest" x="{x + 12}" y="{y + 38}">{escape(_short(node.digest))}</text>'
        f'<text class="channels" x="{x + 12}" y="{y + 55}">{escape(channels)}</text>'
        "</g></a>"
    )

"""One self-contained HTML report: tables and figures (PNG, embedded as data URIs), no external files."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 0.82em; margin: 0.6em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption, .note { font-size: 0.86em; color: #555; } .banner { background: #fff4d6; padding: 0.5em 0.8em;
     border: 1px solid #e8c66a; font-size: 0.9em; }
"""


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables and figures in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="", border=0, float_format=lambda v: f"{v:.4g}", escape=True)


def render(title: str, sections: Sequence[Section], banner: str = "") -> str:
    """The report as one HTML string (figures inlined)."""
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Created {created} by hccp53.</p>',
    ]
    if banner:
        parts.append(f'<p class="banner">{html.escape(banner)}</p>')
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(text)}</p>" for text in section.paragraphs]
        for caption, frame in section.tables:
            parts.append(f'<p class="note"><b>{html.escape(caption)}</b></p>{_table(frame)}')
        for caption, path in section.figures:
            parts.append(f"<figure>{_image(path)}<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, title: str, sections: Sequence[Section], banner: str = "") -> Path:
    """Write :func:`render`'s HTML to ``path``."""
    path = Path(path)
    path.write_text(render(title, sections, banner), encoding="utf-8")
    return path

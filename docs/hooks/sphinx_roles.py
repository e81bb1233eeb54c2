"""mkdocs hook: show the docstrings' Sphinx roles (:meth:`x`, :class:`~a.B`) as plain code.

The docstrings are Google style but cross-reference with Sphinx roles, which mkdocstrings renders
literally (":meth:" followed by the code). This keeps the code and drops the role; a leading
``~`` shows the last component only, as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

ROLES = "meth|attr|class|func|mod|data|obj|exc|const"
ROLE = re.compile(rf":(?:py:)?(?:{ROLES}):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match[str]) -> str:
    short, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles in every page's HTML."""
    return ROLE.sub(_plain, html)

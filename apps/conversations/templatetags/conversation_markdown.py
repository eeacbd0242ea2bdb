"""Assistant answers rendered as Markdown for staff, safely.

The model's text is untrusted (it can repeat what a visitor or a document said), so: raw HTML
is escaped (markdown-it's ``html`` option off), links keep only http(s) and mailto targets and
open in a new tab without referrer, and images are not rendered at all (an image in an answer
would make the staff member's browser fetch an arbitrary URL); their Markdown stays as text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

register = template.Library()

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")


def _link_open(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, idx, options, env)


class _AnswerMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:  # markdown-it's own (camelCase) hook
        return url.strip().lower().startswith(ALLOWED_SCHEMES)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = _AnswerMarkdown("commonmark", {"html": False, "linkify": False, "breaks": True})
    parser.enable("table").enable("strikethrough").disable("image")
    parser.add_render_rule("link_open", _link_open)
    return parser


@register.filter
def answer_markdown(text: str) -> SafeString:
    """Markdown to HTML with nothing from the text able to reach the DOM unescaped."""
    return mark_safe(_parser().render(text or ""))  # noqa: S308 - html off, links checked

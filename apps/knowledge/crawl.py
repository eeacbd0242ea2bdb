"""Website crawls: same host, breadth first, within depth and page limits.

robots.txt is honoured (its rules for our user agent, or ``*``): a missing robots.txt (4xx)
allows everything; one that cannot be read (5xx, network error) stops the crawl, since the
site's rules are then unknown (RFC 9309). Sitemaps named in robots.txt, or ``/sitemap.xml``,
add their same-host URLs to the crawl (parsed with defusedxml; sitemap indexes one level deep).
Every request goes through ``SafeFetcher``, so each page and redirect is address-checked.
Pages are yielded one at a time so that a large crawl never sits in memory.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from defusedxml import ElementTree as SafeElementTree
from defusedxml.common import DefusedXmlException

from apps.knowledge.errors import IngestionError
from apps.knowledge.fetch import USER_AGENT, Fetched, SafeFetcher

logger = logging.getLogger(__name__)

MAX_SITEMAPS = 10
MAX_SITEMAP_BYTES = 10 * 1024 * 1024
_SKIPPED_SUFFIX_RE = re.compile(
    r"\.(?:png|jpe?g|gif|svg|webp|ico|css|js|mjs|map|woff2?|ttf|eot|zip|gz|tgz|bz2|xz|7z|rar|"
    r"mp3|mp4|webm|avi|mov|exe|dmg|iso|bin|json|xml|rss|atom)$",
    re.I,
)


def normalise(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, "")
    )


def same_site(url: str, root: str) -> bool:
    a, b = urlsplit(url), urlsplit(root)
    return a.scheme in ("http", "https") and a.netloc.lower() == b.netloc.lower()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.base = ""
        self.nofollow = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "a" and values.get("href") and "nofollow" not in values.get("rel", "").lower():
            self.links.append(values["href"])
        elif tag == "base" and values.get("href") and not self.base:
            self.base = values["href"]
        elif tag == "meta" and values.get("name", "").lower() == "robots":
            self.nofollow = "nofollow" in values.get("content", "").lower()


def page_links(html: str, page_url: str) -> list[str]:
    parser = _Links()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # the stdlib parser copes with most broken HTML; never fail a crawl on it
        logger.debug("link extraction failed on %s", page_url, exc_info=True)
    if parser.nofollow:
        return []
    base = urljoin(page_url, parser.base) if parser.base else page_url
    return [urljoin(base, href.strip()) for href in parser.links]


@dataclass(frozen=True)
class CrawledPage:
    url: str
    depth: int
    fetched: Fetched


@dataclass
class CrawlReport:
    pages: int = 0
    skipped_by_robots: int = 0
    failed: int = 0
    from_sitemap: int = 0


def robots_for(fetcher: SafeFetcher, root: str) -> RobotFileParser:
    parts = urlsplit(root)
    robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
    parser = RobotFileParser(robots_url)
    try:
        fetched = fetcher.get(robots_url, max_bytes=512 * 1024)
    except IngestionError as exc:
        status = exc.details.get("status")
        if exc.code == "http_error" and isinstance(status, int) and 400 <= status < 500:
            parser.parse([])  # no robots.txt: no rules, everything allowed
            return parser
        if exc.code == "address_refused":
            raise
        raise IngestionError(
            f"robots.txt of {parts.netloc} could not be read ({exc.message}); the site's rules "
            "are unknown, so nothing was crawled.",
            code="robots_unavailable",
        ) from exc
    parser.parse(fetched.body.decode("utf-8", errors="replace").splitlines())
    return parser


def sitemap_urls(fetcher: SafeFetcher, root: str, robots: RobotFileParser, limit: int) -> list[str]:
    parts = urlsplit(root)
    pending = list(robots.site_maps() or []) or [
        urlunsplit((parts.scheme, parts.netloc, "/sitemap.xml", "", ""))
    ]
    found: list[str] = []
    seen_maps: set[str] = set()
    while pending and len(seen_maps) < MAX_SITEMAPS and len(found) < limit:
        sitemap = pending.pop(0)
        if sitemap in seen_maps or not same_site(sitemap, root):
            continue
        seen_maps.add(sitemap)
        try:
            body = fetcher.get(sitemap, max_bytes=MAX_SITEMAP_BYTES).body
            tree = SafeElementTree.fromstring(body, forbid_dtd=True)
        except (IngestionError, DefusedXmlException, SafeElementTree.ParseError):
            continue  # a sitemap is a hint; without it the crawl follows links
        for element in tree.iter():
            if not str(element.tag).endswith("loc") or not element.text:
                continue
            loc = element.text.strip()
            if str(tree.tag).endswith("sitemapindex"):
                pending.append(loc)
            elif same_site(loc, root):
                found.append(loc)
    return found[:limit]


def crawl(
    fetcher: SafeFetcher,
    start_url: str,
    *,
    max_depth: int,
    max_pages: int,
    report: CrawlReport | None = None,
) -> Iterator[CrawledPage]:
    """Pages of the start URL's site, breadth first; the start page failing fails the crawl."""
    report = report if report is not None else CrawlReport()
    robots = robots_for(fetcher, start_url)
    if not robots.can_fetch(USER_AGENT, start_url):
        raise IngestionError(
            f"robots.txt of {urlsplit(start_url).netloc} does not allow crawling {start_url}.",
            code="robots_disallowed",
        )
    queue: deque[tuple[str, int]] = deque([(start_url, 0)])
    seen = {normalise(start_url)}
    if max_depth > 0:
        for url in sitemap_urls(fetcher, start_url, robots, max_pages):
            if normalise(url) not in seen:
                seen.add(normalise(url))
                queue.append((url, 1))
                report.from_sitemap += 1
    while queue and report.pages < max_pages:
        url, depth = queue.popleft()
        if not robots.can_fetch(USER_AGENT, url):
            report.skipped_by_robots += 1
            continue
        try:
            fetched = fetcher.get(url)
        except IngestionError:
            if depth == 0:
                raise
            report.failed += 1
            continue
        if not same_site(fetched.url, start_url):
            report.failed += 1  # redirected off the site
            continue
        report.pages += 1
        yield CrawledPage(url=fetched.url, depth=depth, fetched=fetched)
        if depth >= max_depth or not is_html(fetched):
            continue
        for link in page_links(fetched.body.decode("utf-8", errors="replace"), fetched.url):
            key = normalise(link)
            if (
                key in seen
                or not same_site(link, start_url)
                or _SKIPPED_SUFFIX_RE.search(urlsplit(link).path)
            ):
                continue
            seen.add(key)
            queue.append((link, depth + 1))


def is_html(fetched: Fetched) -> bool:
    start = fetched.body[:1024].lstrip().lower()
    return "html" in fetched.content_type.lower() or start.startswith((b"<!doctype html", b"<html"))


def describe(report: CrawlReport) -> dict[str, Any]:
    return {
        "pages": report.pages,
        "skipped_by_robots": report.skipped_by_robots,
        "failed": report.failed,
        "from_sitemap": report.from_sitemap,
    }

"""URL and website-crawl sources: same host, depth and page limits, robots.txt, sitemaps,
citations with page URLs, re-syncs that embed only what changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import InvalidInput
from apps.knowledge import selectors, services
from apps.knowledge.models import Chunk, Source, SourceStatus
from tests.knowledge.conftest import ingest
from tests.knowledge.http_server import Route, page, serve

HOURS = "The Lyon office is open from eight in the morning until six in the evening."
PARKING = "Visitors park in the underground garage; the entrance is on Rue Garibaldi."
DEEP = "The archive room in the basement keeps printed contracts for ten years."
ORPHAN = "Only the sitemap links to this page about the rooftop garden and its beehives."


@pytest.fixture
def loopback_allowed(settings):
    settings.KNOWLEDGE_FETCH_ALLOW_LOOPBACK = True


def site_routes(base_placeholder: str = "{base}") -> dict[str, Route]:
    return {
        "/robots.txt": Route(
            f"User-agent: *\nDisallow: /private/\nSitemap: {base_placeholder}/sitemap.xml\n".encode(),
            content_type="text/plain",
        ),
        "/sitemap.xml": Route(
            (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{base_placeholder}/garden</loc></url></urlset>"
            ).encode(),
            content_type="application/xml",
        ),
        "/": Route(
            page(
                "Welcome",
                "Start here.",
                ["/hours", "/parking", "/private/salaries", "http://elsewhere.example/"],
            )
        ),
        "/hours": Route(page("Opening hours", HOURS, ["/archive"])),
        "/parking": Route(page("Parking", PARKING)),
        "/archive": Route(page("Archive", DEEP, ["/archive/older"])),
        "/archive/older": Route(page("Older", "Too deep to be crawled.")),
        "/private/salaries": Route(page("Salaries", "Robots.txt forbids this page.")),
        "/garden": Route(page("Garden", ORPHAN)),
    }


def with_base(site) -> None:
    for route in site.routes.values():
        route.body = route.body.replace(b"{base}", site.base.encode())


def test_crawl_follows_links_and_sitemap_within_limits_and_robots(kb, loopback_allowed):
    with serve(site_routes()) as site:
        with_base(site)
        source = ingest(
            services.source_create_url(
                knowledge_base=kb, url=site.url("/"), crawl=True, max_depth=2, max_pages=20
            )
        )
    assert source.status == SourceStatus.READY, source.status_reason
    urls = set(Chunk.objects.filter(source=source).values_list("url", flat=True))
    assert urls == {site.url(p) for p in ("/", "/hours", "/parking", "/archive", "/garden")}
    assert "/private/salaries" not in site.paths()
    assert "/archive/older" not in site.paths()
    assert not any("elsewhere" in host for _, host in site.requests)
    assert source.title == "Welcome"


def test_crawl_stops_at_the_page_limit(kb, loopback_allowed):
    with serve(site_routes()) as site:
        with_base(site)
        source = ingest(
            services.source_create_url(
                knowledge_base=kb, url=site.url("/"), crawl=True, max_depth=3, max_pages=2
            )
        )
    assert source.status == SourceStatus.READY
    assert len(set(Chunk.objects.filter(source=source).values_list("url", flat=True))) == 2


def test_crawled_chunks_cite_their_page(kb, loopback_allowed):
    with serve(site_routes()) as site:
        with_base(site)
        source = ingest(
            services.source_create_url(knowledge_base=kb, url=site.url("/"), crawl=True)
        )
        result = selectors.knowledge_retrieve(
            query="where do visitors park?", knowledge_base_ids=[kb.id]
        )
    top = result.chunks[0]
    assert top.source_id == source.id
    assert top.url == site.url("/parking")
    assert top.title == "Parking"
    assert top.as_source()["url"] == site.url("/parking")


def test_resync_of_unchanged_site_embeds_nothing_and_changed_page_only_its_chunks(
    kb, loopback_allowed, embed_counter
):
    with serve(site_routes()) as site:
        with_base(site)
        source = ingest(
            services.source_create_url(knowledge_base=kb, url=site.url("/"), crawl=True)
        )
        embed_counter.reset()
        source = ingest(source)
        assert embed_counter.documents == []
        site.routes["/parking"] = Route(page("Parking", "Visitors now park on level -2 only."))
        source = ingest(source)
    assert source.status == SourceStatus.READY
    assert embed_counter.documents == ["Parking\nVisitors now park on level -2 only."]
    assert not Chunk.objects.filter(source=source, text=PARKING).exists()


def test_single_page_url_source_takes_the_page_title(kb, loopback_allowed):
    with serve({"/hours": Route(page("Opening hours", HOURS))}) as site:
        source = ingest(services.source_create_url(knowledge_base=kb, url=site.url("/hours")))
    assert source.status == SourceStatus.READY
    assert source.title == "Opening hours"
    assert source.kind == "url" and source.chunk_count == 1


def test_url_sources_refuse_loopback_by_default(kb):
    with serve({"/": Route(page("Admin", "internal"))}) as site:
        source = ingest(services.source_create_url(knowledge_base=kb, url=site.url("/")))
        assert site.requests == []
    assert source.status == SourceStatus.FAILED
    assert source.error_code == "address_refused"
    assert "loopback" in source.status_reason


def test_metadata_address_fails_with_a_reason(kb):
    source = ingest(
        services.source_create_url(knowledge_base=kb, url="http://169.254.169.254/latest/")
    )
    assert source.status == SourceStatus.FAILED
    assert "metadata" in source.status_reason


@pytest.mark.parametrize(
    ("routes", "code"),
    [
        (
            {"/robots.txt": Route(b"User-agent: *\nDisallow: /\n", content_type="text/plain")},
            "robots_disallowed",
        ),
        ({"/robots.txt": Route(b"oops", status=503)}, "robots_unavailable"),
        ({}, "http_error"),
    ],
)
def test_crawl_failures_are_explained(kb, loopback_allowed, routes, code):
    with serve(routes) as site:
        source = ingest(
            services.source_create_url(knowledge_base=kb, url=site.url("/"), crawl=True)
        )
    assert source.status == SourceStatus.FAILED
    assert source.error_code == code
    assert source.status_reason


def test_invalid_urls_and_limits_are_refused_at_creation(kb, settings):
    with pytest.raises(InvalidInput):
        services.source_create_url(knowledge_base=kb, url="javascript:alert(1)")
    settings.KNOWLEDGE_CRAWL_MAX_PAGES = 10
    with pytest.raises(InvalidInput) as excinfo:
        services.source_create_url(
            knowledge_base=kb, url="https://example.com/", crawl=True, max_pages=11
        )
    assert excinfo.value.code == "invalid_crawl_limits"


def test_resync_queues_url_sources_not_checked_recently(kb, django_capture_on_commit_callbacks):
    stale = services.source_create_url(knowledge_base=kb, url="https://example.com/a", queue=False)
    fresh = services.source_create_url(knowledge_base=kb, url="https://example.com/b", queue=False)
    services.source_create_text(knowledge_base=kb, title="t", text="not a URL", queue=False)
    Source.objects.filter(id=stale.id).update(
        status=SourceStatus.READY, last_checked_at=timezone.now() - timedelta(days=2)
    )
    Source.objects.filter(id=fresh.id).update(
        status=SourceStatus.READY, last_checked_at=timezone.now()
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.sources_resync_due() == 1
    assert len(callbacks) == 1

"""URL fetching never reaches private, loopback, link-local or metadata addresses, directly,
through redirects, or through DNS answers; allowed fetches pin the checked address."""

from __future__ import annotations

import gzip

import pytest

from apps.knowledge.errors import AddressRefused, IngestionError
from apps.knowledge.fetch import SafeFetcher, check_address
from tests.knowledge.http_server import Route, serve


def refused(url: str, **kwargs) -> AddressRefused:
    with SafeFetcher(**kwargs) as fetcher, pytest.raises(AddressRefused) as excinfo:
        fetcher.get(url)
    return excinfo.value


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/", "loopback"),
        ("http://[::1]:9/", "loopback"),
        ("http://10.0.0.7/", "private"),
        ("http://192.168.1.1/admin", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://0.0.0.0/", "not a public"),
        ("http://100.64.0.1/", "not a public"),
        ("http://[fd00:ec2::254]/", "private"),
    ],
)
def test_default_policy_refuses_internal_addresses(url, words):
    error = refused(url)
    assert words in error.message
    assert error.code == "address_refused"


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting():
    resolver_calls = []

    def resolver(host, port):
        resolver_calls.append(host)
        return ["10.1.2.3"]

    error = refused("http://intranet.example/wiki", resolver=resolver)
    assert "10.1.2.3 (the address of intranet.example)" in error.message
    assert resolver_calls == ["intranet.example"]


def test_a_mixed_dns_answer_is_refused_if_any_address_is_internal():
    error = refused(
        "http://mixed.example/", resolver=lambda host, port: ["93.184.216.34", "169.254.169.254"]
    )
    assert "169.254.169.254" in error.message


def test_loopback_allowed_only_when_the_call_allows_it():
    with serve({"/": Route(b"hello")}) as site:
        assert "loopback" in refused(site.url("/")).message
        with SafeFetcher(allow_loopback=True) as fetcher:
            assert fetcher.get(site.url("/")).body == b"hello"


def test_redirect_to_metadata_service_is_refused():
    routes = {
        "/go": Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    }
    with serve(routes) as site:
        error = refused(site.url("/go"), allow_loopback=True)
    assert "169.254.169.254" in error.message and "metadata" in error.message


def test_redirect_to_a_name_resolving_inside_is_refused():
    routes = {"/go": Route(status=301, headers={"Location": "http://metadata.internal/"})}
    with serve(routes) as site:
        error = refused(
            site.url("/go"),
            allow_loopback=True,
            resolver=lambda host, port: ["169.254.169.254"] if host == "metadata.internal" else [],
        )
    assert "metadata.internal" in error.message


def test_redirect_to_loopback_is_refused_when_only_another_port_is_allowed():
    with serve({"/secret": Route(b"internal admin")}) as internal:
        routes = {"/go": Route(status=307, headers={"Location": internal.url("/secret")})}
        with serve(routes) as site:
            error = refused(site.url("/go"), allow_loopback={site.port})
        assert internal.requests == []
    assert "127.0.0.1" in error.message and "loopback" in error.message


def test_connection_goes_to_the_checked_address_even_if_dns_changes():
    """Resolve once, connect to that address with the name as Host: a second, different DNS
    answer (rebinding) is never asked for or used."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    calls = []

    def resolver(host, port):
        calls.append(host)
        return next(answers)

    with serve({"/page": Route(b"public page")}) as site:
        with SafeFetcher(allow_loopback=True, resolver=resolver) as fetcher:
            fetched = fetcher.get(f"http://docs.example:{site.port}/page")
        assert site.requests == [("/page", f"docs.example:{site.port}")]
    assert fetched.body == b"public page"
    assert fetched.url == f"http://docs.example:{site.port}/page"
    assert calls == ["docs.example"]


def test_each_redirect_hop_is_resolved_and_checked_again():
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["127.0.0.1"] if host == "a.example" else ["192.168.0.10"]

    with (
        serve({"/": Route(status=302, headers={"Location": "http://b.example/"})}) as site,
        SafeFetcher(allow_loopback=True, resolver=resolver) as fetcher,
        pytest.raises(AddressRefused),
    ):
        fetcher.get(f"http://a.example:{site.port}/")
    assert calls == ["a.example", "b.example"]


def test_redirect_loops_stop():
    with (
        serve({"/loop": Route(status=302, headers={"Location": "/loop"})}) as site,
        SafeFetcher(allow_loopback=True) as fetcher,
        pytest.raises(IngestionError) as excinfo,
    ):
        fetcher.get(site.url("/loop"))
    assert excinfo.value.code == "too_many_redirects"


def test_bodies_stop_at_the_size_limit_even_when_compressed():
    bomb = gzip.compress(b"a" * (5 * 1024 * 1024))
    routes = {
        "/big": Route(b"x" * 5000),
        "/gzip": Route(bomb, headers={"Content-Encoding": "gzip"}),
    }
    with serve(routes) as site, SafeFetcher(allow_loopback=True, max_bytes=4096) as fetcher:
        for path in ("/big", "/gzip"):
            with pytest.raises(IngestionError) as excinfo:
                fetcher.get(site.url(path))
            assert excinfo.value.code == "file_too_large"


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/x", "http://user:pw@example.com/", "http:///x"]
)
def test_only_plain_http_urls_are_fetched(url):
    with SafeFetcher() as fetcher, pytest.raises(IngestionError) as excinfo:
        fetcher.get(url)
    assert excinfo.value.code == "invalid_url"


def test_public_addresses_pass_the_check():
    check_address("93.184.216.34", port=443, allow_loopback=False, host="example.com")
    check_address("2606:2800:220:1:248:1893:25c8:1946", port=443, allow_loopback=False, host="e")
